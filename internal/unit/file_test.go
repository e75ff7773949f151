package unit

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Option
	}{
		{"basic", "[Unit]\nDescription=Web\n\n[Service]\nExecStart=/bin/web -p 80\n", []Option{
			{"Unit", "Description", "Web"}, {"Service", "ExecStart", "/bin/web -p 80"}}},
		{"whitespace and CRLF", "  [Unit]  \r\n  Description =  Web server \r\n", []Option{{"Unit", "Description", "Web server"}}},
		{"comments", "# hi\n; there\n[Unit]\n# Description=no\nDescription=yes # not a comment\n", []Option{{"Unit", "Description", "yes # not a comment"}}},
		{"continuation", "[Service]\nExecStart=/bin/sh -c \\\n  'echo hi' \\\n  arg\n", []Option{{"Service", "ExecStart", "/bin/sh -c  'echo hi'  arg"}}},
		{"comment inside continuation", "[Service]\nExecStart=a \\\n# skipped\n b\n", []Option{{"Service", "ExecStart", "a  b"}}},
		{"continuation ended by blank line", "[Service]\nA=a \\\n\nB=b\n", []Option{{"Service", "A", "a"}, {"Service", "B", "b"}}},
		{"backslash at EOF", "[Service]\nA=a \\\\", []Option{{"Service", "A", "a"}}},
		{"backslash in middle kept", "[Service]\nA=a\\nb\n", []Option{{"Service", "A", `a\nb`}}},
		{"empty value", "[X-Fleet]\nConflicts=\n", []Option{{"X-Fleet", "Conflicts", ""}}},
		{"value with =", "[Service]\nEnvironment=A=b\n", []Option{{"Service", "Environment", "A=b"}}},
		{"repeated keys and sections", "[A]\nx=1\n[B]\ny=2\n[A]\nx=3\n", []Option{{"A", "x", "1"}, {"B", "y", "2"}, {"A", "x", "3"}}},
		{"long line", "[Service]\nExecStart=" + strings.Repeat("x", 5000) + "\n", []Option{{"Service", "ExecStart", strings.Repeat("x", 5000)}}},
		{"empty file", "", nil},
		{"only comments", "# nothing\n\n", nil},
	} {
		f, err := Parse("t.service", []byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(f.Options, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, f.Options, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, msg string }{
		{"unclosed section", "[Unit\nA=b\n", "does not end in ']'"},
		{"garbage after section", "[Unit] x\n", "does not end in ']'"},
		{"empty section", "[]\n", "empty section name"},
		{"nested brackets", "[a[b]]\n", "may not contain"},
		{"control char", "[Unit]\nA=x\x00y\n", "control character"},
		{"bare CR", "[Unit]\nA=x\ry\n", "control character"},
		{"invalid utf8", "[Unit]\nA=\xff\n", "UTF-8"},
		{"too big", "[Unit]\nA=" + strings.Repeat("x", MaxFileSize) + "\n", "more than the"},
	} {
		_, err := Parse("t.service", []byte(tc.in))
		var ue *Error
		if !errors.As(err, &ue) || ue.Unit != "t.service" || !strings.Contains(ue.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want *Error containing %q", tc.name, err, tc.msg)
		}
	}
}

// TestParseWarnings: lines systemd's config_parse skips with a warning are
// skipped with a warning naming the unit and line, and parsing goes on.
func TestParseWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Option
		warn     []string
	}{
		{"option before section", "A=b\n[Unit]\nB=c\n", []Option{{"Unit", "B", "c"}}, []string{"line 1: assignment \"A=b\" comes before the first [Section]"}},
		{"no equals", "[Unit]\nDescription\nB=c\n", []Option{{"Unit", "B", "c"}}, []string{"line 2: \"Description\" has no '='"}},
		{"empty name", "[Unit]\n=x\n", nil, []string{"line 2: option with an empty name"}},
		{"bad name", "[Unit]\nA B=x\nC=d\n", []Option{{"Unit", "C", "d"}}, []string{"line 2: option name \"A B\" may only contain"}},
		{"two", "x\ny=1\n[S]\n", nil, []string{"line 1:", "line 2:"}},
	} {
		f, err := Parse("t.service", []byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(f.Options, tc.want) {
			t.Errorf("%s: options %q, want %q", tc.name, f.Options, tc.want)
		}
		if len(f.Warnings) != len(tc.warn) {
			t.Errorf("%s: warnings %q, want %d", tc.name, f.Warnings, len(tc.warn))
			continue
		}
		for i, w := range tc.warn {
			if !strings.HasPrefix(f.Warnings[i], "unit t.service: ") || !strings.Contains(f.Warnings[i], w) {
				t.Errorf("%s: warning %q, want one with %q", tc.name, f.Warnings[i], w)
			}
		}
	}
}

func TestStringHash(t *testing.T) {
	a, _ := Parse("a", []byte("[Unit]\nDescription=x\n[Service]\nExecStart=/bin/a\n"))
	b, _ := Parse("b", []byte("# formatted differently\n[Unit]\n  Description = x\n\n\n[Service]\nExecStart=/bin/\\\na\n"))
	want := "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/a\n"
	if a.String() != want {
		t.Errorf("String = %q, want %q", a.String(), want)
	}
	if b.String() != "[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/ a\n" {
		t.Errorf("continued String = %q", b.String())
	}
	c := FromOptions(a.Options)
	if a.Hash() != c.Hash() || len(a.Hash()) != 40 {
		t.Errorf("hash %s != %s", a.Hash(), c.Hash())
	}
	if v, ok := a.Value("Service", "ExecStart"); !ok || v != "/bin/a" {
		t.Errorf("Value = %q %v", v, ok)
	}
	if _, ok := a.Value("Service", "Nope"); ok {
		t.Error("Value of missing key ok")
	}
	if got := a.Section("Unit"); len(got) != 1 || got[0].Name != "Description" {
		t.Errorf("Section = %v", got)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		o   Option
		msg string
	}{
		{Option{"Service", "ExecStart", "a\nb"}, "line break"},
		{Option{"Service", "ExecStart", " a"}, "whitespace"},
		{Option{"Service", "ExecStart", `a\`}, "backslash"},
		{Option{"Service", "Exec Start", "a"}, "may only contain"},
		{Option{"Serv]ice", "ExecStart", "a"}, "may not contain"},
		{Option{"", "ExecStart", "a"}, "empty section"},
		{Option{"Service", "ExecStart", "\xff"}, "UTF-8"},
	} {
		err := FromOptions([]Option{tc.o}).Check("x.service")
		var ue *Error
		if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.msg) || ue.Field != tc.o.Name {
			t.Errorf("Check(%q) = %v, want %q", tc.o, err, tc.msg)
		}
	}
	if err := FromOptions([]Option{{"Service", "ExecStart", `/bin/echo "a b" \n`}}).Check("x.service"); err != nil {
		t.Errorf("Check of a fine option: %v", err)
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{Unit: "a.service", Msg: "m"}, "unit a.service: m"},
		{Error{Unit: "a.service", Section: "X-Fleet", Field: "Global", Msg: "m"}, "unit a.service: [X-Fleet] Global: m"},
		{Error{Unit: "a.service", Field: "name", Msg: "m"}, "unit a.service: name: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
