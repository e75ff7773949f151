package native

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestEnvironmentKey: Environment= as systemd's config_parse_environ reads
// it: an empty value resets what came before (in a drop-in too), bad words
// are ignored with a warning rather than failing the unit, and a bad line
// is ignored whole.
func TestEnvironmentKey(t *testing.T) {
	for _, tc := range []struct {
		lines    string
		want     []string
		warnings []string // substrings, in order
	}{
		{lines: `Environment="A=hello world" B=2`, want: []string{"A=hello world", "B=2"}},
		{lines: "Environment=A=1\nEnvironment=\nEnvironment=B=2", want: []string{"B=2"}},
		{lines: "Environment=A=1 FOO B=%i =x 1X=y", want: []string{"A=1", "B=a-b"},
			warnings: []string{"invalid environment assignment, ignoring: FOO", "ignoring: =x", "ignoring: 1X=y"}},
		{lines: `Environment=A=%Z B=%n`, want: []string{"B=web@a-b.service"}, warnings: []string{"unsupported specifier %Z"}},
		{lines: `Environment=A=1 B=\w`, warnings: []string{`invalid syntax (unknown escape \w), ignoring: A=1 B=\w`}},
		{lines: `Environment="A=open`, warnings: []string{"invalid syntax"}},
		{lines: `Environment=A=\x41\s%%`, want: []string{"A=A %"}},
	} {
		f, err := unit.Parse("web@a-b.service", []byte("[Service]\nExecStart=/bin/true\n"+tc.lines+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		sp, err := parseSpec("web@a-b.service", f, testExpander())
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
			continue
		}
		if !reflect.DeepEqual(sp.env, tc.want) {
			t.Errorf("%q: env %q, want %q", tc.lines, sp.env, tc.want)
		}
		if len(sp.warnings) != len(tc.warnings) {
			t.Errorf("%q: warnings %q, want %d", tc.lines, sp.warnings, len(tc.warnings))
			continue
		}
		for i, w := range tc.warnings {
			if !strings.Contains(sp.warnings[i], w) || !strings.HasPrefix(sp.warnings[i], "[Service] Environment=") {
				t.Errorf("%q: warning %q, want one with %q", tc.lines, sp.warnings[i], w)
			}
		}
	}
}

// TestExecLineAsSystemd runs real commands through the supervisor: $f in
// a shell script passes through to the shell, "%{" reaches curl-like
// arguments unchanged, unknown escapes are kept, ";" separates the
// commands of one line, and a bare FOO in Environment= is skipped.
func TestExecLineAsSystemd(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	for _, f := range []string{"a.conf", "b.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startUnit(t, s, "sysd@x-y.service", "Type=oneshot\nRemainAfterExit=yes\n"+
		"Environment=FOO A=1 \"L=x y\"\n"+
		"ExecStart=/bin/sh -c 'for f in "+dir+"/*.conf; do echo \"f=$f\"; done'\n"+
		"ExecStart=/bin/echo w='%{http_code}' %I %u 50% \\w+ ${A}$A $L ; /bin/echo second \\;\n")
	waitState(t, s, "sysd@x-y.service", "active", "exited", 5*time.Second)
	want := []string{
		"f=" + dir + "/a.conf\n", "f=" + dir + "/b.conf\n",
		"w=%{http_code} x/y root 50% \\w+ 1$A x y\n",
		"second ;\n",
	}
	testutil.WaitFor(t, "output in the journal", 5*time.Second, func() bool {
		j := journal(t, s, "sysd@x-y.service", -1)
		for _, w := range want {
			if !strings.Contains(j, w) {
				return false
			}
		}
		return true
	})
}

// TestParseEnvFile: EnvironmentFile= as systemd's parse_env_file_internal
// reads it.
func TestParseEnvFile(t *testing.T) {
	in := "# comment\n" +
		"; also a comment \\\n" +
		"A=plain value   \n" +
		"  B  =  spaced\n" +
		"C='single $x \\n'\n" +
		"D=\"double \\\"q\\\" \\$x \\\\ \\n\"\n" +
		"E=mixed'a b'\"c d\"\n" +
		"F='a' 'b'\n" +
		"G=esc\\ aped\\\n" +
		"continued\n" +
		"H=\"multi\\\n" +
		"line\"\n" +
		"no equals here\n" +
		"1BAD=x\n" +
		"export I=exported\n" +
		"J=\n" +
		"A=last wins\n" +
		"K=end"
	want := [][2]string{
		{"A", "plain value"}, {"B", "spaced"}, {"C", `single $x \n`}, {"D", `double "q" $x \ \n`},
		{"E", `mixed'a b'"c d"`}, {"F", "ab"}, {"G", "esc apedcontinued"}, {"H", "multiline"},
		{"I", "exported"}, {"J", ""}, {"A", "last wins"}, {"K", "end"},
	}
	if got := parseEnvFile(in); !reflect.DeepEqual(got, want) {
		t.Errorf("parseEnvFile:\n got %q\nwant %q", got, want)
	}
}

// TestUnknownEscapeWarning: an Exec line parsed only by keeping unknown
// escapes loads with a warning, as systemd logs "Ignoring unknown escape
// sequences"; a lone "\;" is no unknown escape.
func TestUnknownEscapeWarning(t *testing.T) {
	for _, tc := range []struct {
		line string
		warn bool
	}{
		{`ExecStart=/bin/grep '\w+' x`, true},
		{`ExecStartPre=/bin/find . -exec true {} \;`, false},
		{`ExecStart=/bin/echo \x41 "\"q\"" \s`, false},
		{`ExecStart=/bin/echo a\;b`, true},
	} {
		f, err := unit.Parse("w.service", []byte("[Service]\nType=oneshot\nRemainAfterExit=yes\n"+tc.line+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		sp, err := parseSpec("w.service", f, testExpander())
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		key, _, _ := strings.Cut(tc.line, "=")
		got := len(sp.warnings) == 1 && strings.HasPrefix(sp.warnings[0], "[Service] "+key+"=: ignoring unknown escape sequences")
		if got != tc.warn || (!tc.warn && len(sp.warnings) > 0) {
			t.Errorf("%q: warnings %q, want a warning: %v", tc.line, sp.warnings, tc.warn)
		}
	}
}
