package native

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func testExpander() *expander {
	return newExpander("web@a-b.service", "m1", "node1")
}

func TestParseCommandLine(t *testing.T) {
	env := map[string]string{"A": "x y", "B": "one", "E": ""}
	tests := []struct {
		line string
		want []string
		pre  string // prefixes seen: - @ + :
		err  string
	}{
		{line: "/bin/echo a b", want: []string{"/bin/echo", "a", "b"}},
		{line: "  /bin/echo   a\tb  ", want: []string{"/bin/echo", "a", "b"}},
		{line: `/bin/echo "a b" 'c d'`, want: []string{"/bin/echo", "a b", "c d"}},
		{line: `/bin/echo --x="a b"c`, want: []string{"/bin/echo", "--x=a bc"}},
		{line: `/bin/echo "it's" 'say "hi"'`, want: []string{"/bin/echo", "it's", `say "hi"`}},
		{line: `/bin/echo a\ b \t \x41 \101 \u00e9 \\ \"`, want: []string{"/bin/echo", "a b", "\t", "A", "A", "é", `\`, `"`}},
		{line: `/bin/echo "" ''`, want: []string{"/bin/echo", "", ""}},
		{line: `/bin/echo $A`, want: []string{"/bin/echo", "x", "y"}},
		{line: `/bin/echo ${A}`, want: []string{"/bin/echo", "x y"}},
		{line: `/bin/echo "$A"`, want: []string{"/bin/echo", "x", "y"}},
		{line: `/bin/echo pre${B}post $B-z`, want: []string{"/bin/echo", "preonepost", "one-z"}},
		{line: `/bin/echo $E $NOPE z`, want: []string{"/bin/echo", "z"}},
		{line: `/bin/echo ${E} $$A 100$`, want: []string{"/bin/echo", "", "$A", "100$"}},
		{line: `/bin/echo ${bad`, want: []string{"/bin/echo", "${bad"}},
		{line: `/bin/echo %n %N %p %i %I %m %H 100%%`, want: []string{"/bin/echo", "web@a-b.service", "web@a-b", "web", "a-b", "a/b", "m1", "node1", "100%"}},
		{line: `/bin/echo "%H %i"`, want: []string{"/bin/echo", "node1 a-b"}},
		{line: `-/bin/false`, want: []string{"/bin/false"}, pre: "-"},
		{line: `-@/bin/sleep mysleep 5`, want: []string{"/bin/sleep", "mysleep", "5"}, pre: "-@"},
		{line: `:/bin/echo $A`, want: []string{"/bin/echo", "$A"}, pre: ":"},
		{line: `+/bin/true`, want: []string{"/bin/true"}, pre: "+"},
		{line: `sleep 1`, want: []string{"sleep", "1"}},
		{line: ``, err: "empty command"},
		{line: `-`, err: "empty command"},
		{line: `./x`, err: "absolute path"},
		{line: `bin/x`, err: "absolute path"},
		{line: `/bin/echo "abc`, err: "unterminated"},
		{line: `/bin/echo 'abc`, err: "unterminated"},
		{line: `/bin/echo abc\`, err: "backslash at end"},
		{line: `/bin/echo \q`, err: "unknown escape"},
		{line: `/bin/echo \x4`, err: "short escape"},
		{line: `/bin/echo \xzz`, err: "bad escape"},
		{line: `/bin/echo \x00`, err: "NUL"},
		{line: `/bin/echo %`, err: "end of line"},
		{line: `/bin/echo %u`, err: "unsupported specifier %u"},
		{line: `!/bin/true`, err: "not supported"},
		{line: `--/bin/true`, err: "twice"},
		{line: `@/bin/true`, err: "argv[0]"},
	}
	for _, tt := range tests {
		c, err := parseCommand(tt.line, testExpander().spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseCommand(%q) error = %v, want %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCommand(%q): %v", tt.line, err)
			continue
		}
		if got := c.argv(env); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommand(%q) argv = %q, want %q", tt.line, got, tt.want)
		}
		if got := prefixes(c); got != tt.pre {
			t.Errorf("parseCommand(%q) prefixes = %q, want %q", tt.line, got, tt.pre)
		}
	}
}

func prefixes(c command) string {
	s := ""
	for _, p := range []struct {
		on bool
		ch string
	}{{c.ignoreFailure, "-"}, {c.argv0, "@"}, {c.privileged, "+"}, {c.noEnv, ":"}} {
		if p.on {
			s += p.ch
		}
	}
	return s
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "5", want: 5 * time.Second},
		{in: "5s", want: 5 * time.Second},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "1min 30s", want: 90 * time.Second},
		{in: "1min30s", want: 90 * time.Second},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "2 h", want: 2 * time.Hour},
		{in: "10us", want: 10 * time.Microsecond},
		{in: "1d 1w", want: 8 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "infinity", want: infinity},
		{in: " 3s ", want: 3 * time.Second},
		{in: "", err: true},
		{in: "s", err: true},
		{in: "5 parsecs", err: true},
		{in: "-5s", err: true},
		{in: "1..2s", err: true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if d, _ := parseTimeout("0"); d != infinity {
		t.Errorf("parseTimeout(0) = %v, want infinity", d)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]string{"SIGINT": "INT", "INT": "INT", "term": "TERM", "9": "KILL", "SIGUSR1": "USR1"} {
		sig, err := parseSignal(in)
		if err != nil || signalName(sig) != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %s", in, sig, err, want)
		}
	}
	if _, err := parseSignal("SIGNOPE"); err == nil {
		t.Error("parseSignal(SIGNOPE) succeeded")
	}
}

func FuzzParseCommandLine(f *testing.F) {
	for _, s := range []string{`/bin/echo "a b" 'c' \x41 %n $A ${B}`, `-@/x y`, `"unterminated`, `\u00e9%%`, `$$ ${} $`} {
		f.Add(s)
	}
	env := map[string]string{"A": "1 2", "B": "3"}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCommand(line, testExpander().spec)
		if err != nil {
			return
		}
		if len(c.words) == 0 {
			t.Fatalf("parseCommand(%q) gave no words and no error", line)
		}
		argv := c.argv(env)
		if argv[0] != c.words[0] {
			t.Fatalf("program word changed: %q -> %q", c.words[0], argv[0])
		}
		for _, w := range c.words {
			if strings.ContainsRune(w, 0) {
				t.Fatalf("parseCommand(%q) produced a NUL byte in %q", line, w)
			}
		}
	})
}
