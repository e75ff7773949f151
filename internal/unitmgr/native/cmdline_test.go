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
	env := map[string]string{"A": "x y", "B": "one", "E": "", "Q": `'a b' "c d" e\ f`}
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
		{line: `/bin/echo \t \x41 \101 \u00e9 \\ \" \s`, want: []string{"/bin/echo", "\t", "A", "A", "é", `\`, `"`, " "}},
		{line: `/bin/echo "" ''`, want: []string{"/bin/echo", "", ""}},
		// Escapes systemd does not know are kept as written (with a relaxed
		// retry in extract_first_word_and_warn), "\ " included.
		{line: `/bin/grep '\w+\K' \d a\ b`, want: []string{"/bin/grep", `\w+\K`, `\d`, `a\ b`}},
		{line: `/bin/echo \x4 \xzz \x00 \8 \q`, want: []string{"/bin/echo", `\x4`, `\xzz`, `\x00`, `\8`, `\q`}},
		{line: `/bin/echo abc\`, want: []string{"/bin/echo", `abc\`}},
		// $VAR as a whole word splits; ${VAR} anywhere stays one word;
		// $VAR inside a word is not substituted (replace_env_argv).
		{line: `/bin/echo $A`, want: []string{"/bin/echo", "x", "y"}},
		{line: `/bin/echo ${A}`, want: []string{"/bin/echo", "x y"}},
		{line: `/bin/echo "$A"`, want: []string{"/bin/echo", "x", "y"}},
		{line: `/bin/echo $Q`, want: []string{"/bin/echo", "a b", "c d", "e f"}},
		{line: `/bin/echo pre${B}post x$B $B-z`, want: []string{"/bin/echo", "preonepost", "x$B"}},
		{line: `/bin/sh -c 'for f in /etc/*.conf; do echo $f; done'`, want: []string{"/bin/sh", "-c", "for f in /etc/*.conf; do echo $f; done"}},
		{line: `/bin/echo $E $NOPE $1 $ z`, want: []string{"/bin/echo", "z"}},
		{line: `/bin/echo ${E} $$A a$$b 100$`, want: []string{"/bin/echo", "", "$A", "a$b", "100$"}},
		{line: `/bin/echo ${} ${NOPE}x ${1}`, want: []string{"/bin/echo", "", "x", ""}},
		{line: `/bin/echo ${bad ${A:-d} ${B:+x}${B}`, want: []string{"/bin/echo", "${bad", "${A:-d}", "${B:+x}one"}},
		// Specifiers: systemd's table; %{ %, and a trailing % kept.
		{line: `/bin/echo %n %N %p %i %I %m %H 100%%`, want: []string{"/bin/echo", "web@a-b.service", "web@a-b", "web", "a-b", "a/b", "m1", "node1", "100%"}},
		{line: `/bin/echo "%H %i"`, want: []string{"/bin/echo", "node1 a-b"}},
		{line: `/usr/bin/curl -w '%{http_code}' %, 50% %`, want: []string{"/usr/bin/curl", "-w", "%{http_code}", "%,", "50%", "%"}},
		{line: `/bin/echo %u %U %h %t %S %f %j`, want: []string{"/bin/echo", "root", "0", "/root", "/run", "/var/lib", "/a/b", "web"}},
		{line: `-/bin/false`, want: []string{"/bin/false"}, pre: "-"},
		{line: `-@/bin/sleep mysleep 5`, want: []string{"/bin/sleep", "mysleep", "5"}, pre: "-@"},
		{line: `:/bin/echo $A ${A} $$`, want: []string{"/bin/echo", "$A", "${A}", "$$"}, pre: ":"},
		{line: `+/bin/true`, want: []string{"/bin/true"}, pre: "+"},
		{line: `sleep 1`, want: []string{"sleep", "1"}},
		// ";" separates commands only as a lone unquoted word.
		{line: `/bin/find \; ";" ';' \;x a;`, want: []string{"/bin/find", ";", ";", ";", `\;x`, "a;"}},
		{line: `/bin/true ;`, want: []string{"/bin/true"}},
		{line: ``, err: "empty command"},
		{line: `;`, err: "empty command"},
		{line: `-`, err: "empty command"},
		{line: `./x`, err: "absolute path"},
		{line: `bin/x`, err: "absolute path"},
		{line: `/bin/echo "abc`, err: "unterminated"},
		{line: `/bin/echo 'abc`, err: "unterminated"},
		{line: `/bin/echo "abc\`, err: "backslash at end"},
		{line: `/bin/echo %Z`, err: "unsupported specifier %Z"},
		{line: `/bin/echo %7`, err: "unsupported specifier %7"},
		{line: `/bin/echo %y`, err: "no meaning here"},
		{line: `!/bin/true`, err: "not supported"},
		{line: `--/bin/true`, err: "twice"},
		{line: `@/bin/true`, err: "argv[0]"},
	}
	for _, tt := range tests {
		cs, err := parseCommands(tt.line, testExpander().spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseCommands(%q) error = %v, want %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCommands(%q): %v", tt.line, err)
			continue
		}
		if len(cs) != 1 {
			t.Errorf("parseCommands(%q) gave %d commands, want 1", tt.line, len(cs))
			continue
		}
		c := cs[0]
		if got := c.argv(env); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommands(%q) argv = %q, want %q", tt.line, got, tt.want)
		}
		if got := prefixes(c); got != tt.pre {
			t.Errorf("parseCommands(%q) prefixes = %q, want %q", tt.line, got, tt.pre)
		}
	}
}

// TestParseCommandsSemicolon: a lone ";" splits one Exec line into several
// commands, each with its own prefixes (systemd's config_parse_exec test
// cases "semicolon", "two semicolons in a row", "trailing semicolon").
func TestParseCommandsSemicolon(t *testing.T) {
	tests := []struct {
		line string
		want [][]string
		pre  []string
	}{
		{line: "-@/RValue argv0 r1 ; /goo/goo boo", want: [][]string{{"/RValue", "argv0", "r1"}, {"/goo/goo", "boo"}}, pre: []string{"-@", ""}},
		{line: "-@/RValue argv0 r1 ; ; /goo/goo boo", want: [][]string{{"/RValue", "argv0", "r1"}, {"/goo/goo", "boo"}}, pre: []string{"-@", ""}},
		{line: "/bin/a x;y ; -/bin/b", want: [][]string{{"/bin/a", "x;y"}, {"/bin/b"}}, pre: []string{"", "-"}},
		{line: "/bin/a\t;\t/bin/b", want: [][]string{{"/bin/a"}, {"/bin/b"}}, pre: []string{"", ""}},
		{line: "/bin/a x; /bin/b", want: [][]string{{"/bin/a", "x;", "/bin/b"}}, pre: []string{""}},
	}
	for _, tt := range tests {
		cs, err := parseCommands(tt.line, testExpander().spec)
		if err != nil {
			t.Errorf("parseCommands(%q): %v", tt.line, err)
			continue
		}
		var got [][]string
		var pre []string
		for _, c := range cs {
			got = append(got, c.words)
			pre = append(pre, prefixes(c))
		}
		if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(pre, tt.pre) {
			t.Errorf("parseCommands(%q) = %q %q, want %q %q", tt.line, got, pre, tt.want, tt.pre)
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
	for _, s := range []string{`/bin/echo "a b" 'c' \x41 %n $A ${B}`, `-@/x y`, `"unterminated`, `\u00e9%%`, `$$ ${} $`, `/bin/a ; /bin/b \\; %{x} \\w`} {
		f.Add(s)
	}
	env := map[string]string{"A": "1 2", "B": "3"}
	f.Fuzz(func(t *testing.T, line string) {
		cs, err := parseCommands(line, testExpander().spec)
		if err != nil {
			return
		}
		if len(cs) == 0 {
			t.Fatalf("parseCommands(%q) gave no commands and no error", line)
		}
		for _, c := range cs {
			if len(c.words) == 0 || c.words[0] == "" {
				t.Fatalf("parseCommands(%q) gave a command without a program", line)
			}
			argv := c.argv(env)
			if argv[0] != c.words[0] {
				t.Fatalf("program word changed: %q -> %q", c.words[0], argv[0])
			}
			for _, w := range append(c.words, argv...) {
				if strings.ContainsRune(w, 0) {
					t.Fatalf("parseCommands(%q) produced a NUL byte in %q", line, w)
				}
			}
		}
	})
}
