package unit

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, tc := range []struct {
		in                               string
		template, instance               bool
		prefix, inst, suffix, tmpl, base string
	}{
		{in: "db.service", prefix: "db", suffix: "service", base: "db"},
		{in: "web@1.service", instance: true, prefix: "web", inst: "1", suffix: "service", tmpl: "web@.service", base: "web@1"},
		{in: "web@.service", template: true, prefix: "web", suffix: "service", tmpl: "web@.service", base: "web@"},
		{in: "foo@bar@baz.service", instance: true, prefix: "foo", inst: "bar@baz", suffix: "service", tmpl: "foo@.service", base: "foo@bar@baz"},
		{in: "foo@@.service", instance: true, prefix: "foo", inst: "@", suffix: "service", tmpl: "foo@.service", base: "foo@@"},
		{in: "getty@tty1.a.b.service", instance: true, prefix: "getty", inst: "tty1.a.b", suffix: "service", tmpl: "getty@.service", base: "getty@tty1.a.b"},
		{in: "a.b.c.timer", prefix: "a.b.c", suffix: "timer", base: "a.b.c"},
		{in: `dev-disk-by\x2dlabel.device`, prefix: `dev-disk-by\x2dlabel`, suffix: "device", base: `dev-disk-by\x2dlabel`},
		{in: "x:y_z-1.socket", prefix: "x:y_z-1", suffix: "socket", base: "x:y_z-1"},
		{in: "m.mount"}, {in: "m.automount"}, {in: "s.swap"}, {in: "t.target"}, {in: "p.path"}, {in: "s.slice"}, {in: "s.scope"},
	} {
		n, err := ParseName(tc.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tc.in, err)
			continue
		}
		if n.String() != tc.in {
			t.Errorf("%q: String = %q", tc.in, n.String())
		}
		if tc.suffix == "" {
			continue
		}
		got := []any{n.IsTemplate(), n.IsInstance(), n.Prefix(), n.Instance(), n.Suffix(), n.Template(), n.Base()}
		want := []any{tc.template, tc.instance, tc.prefix, tc.inst, tc.suffix, tc.tmpl, tc.base}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: field %d = %v, want %v", tc.in, i, got[i], want[i])
			}
		}
	}
}

func TestParseNameErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "empty"},
		{"web", "must end in a unit type"},
		{"web.", "must end in a unit type"},
		{"web.exe", "must end in a unit type"},
		{"web service.service", "not allowed"},
		{"web/x.service", "not allowed"},
		{"wéb.service", "not allowed"},
		{".service", "empty prefix"},
		{"@1.service", "empty prefix"},
		{"@.service", "empty prefix"},
		{strings.Repeat("a", 248) + ".service", "256 bytes, more than the 255"},
	} {
		_, err := ParseName(tc.in)
		var ue *Error
		if !errors.As(err, &ue) {
			t.Errorf("ParseName(%q) = %v, want *Error", tc.in, err)
			continue
		}
		if ue.Field != "name" || ue.Unit != tc.in || !strings.Contains(ue.Msg, tc.msg) {
			t.Errorf("ParseName(%q) = %+v, want Field name and %q", tc.in, ue, tc.msg)
		}
	}
	if _, err := ParseName(strings.Repeat("a", 247) + ".service"); err != nil {
		t.Errorf("255-byte name: %v", err)
	}
}

func TestZeroName(t *testing.T) {
	var n Name
	if !n.IsZero() || n.IsTemplate() || n.IsInstance() || n.Template() != "" || n.Prefix() != "" ||
		n.Instance() != "" || n.Suffix() != "" || n.Base() != "" || n.Expand("%n%i%p%N") != "" {
		t.Errorf("zero Name misbehaves: %+v", n)
	}
}

func TestExpand(t *testing.T) {
	inst, _ := ParseName("web@eu-1.service")
	plain, _ := ParseName("db.service")
	tmpl, _ := ParseName("web@.service")
	for _, tc := range []struct {
		n       Name
		in, out string
	}{
		{inst, "%n %N %p %i", "web@eu-1.service web@eu-1 web eu-1"},
		{plain, "%n %N %p %i|", "db.service db db |"},
		{tmpl, "%n %N %p [%i]", "web@.service web@ web []"},
		{inst, "%p@*.service", "web@*.service"},
		{inst, "100%% %i", "100% eu-1"},
		{inst, "%%i", "%i"},
		{inst, "%H %m %x", "%H %m %x"},
		{inst, "trailing %", "trailing %"},
		{inst, "%", "%"},
		{inst, "no specifiers", "no specifiers"},
		{inst, "%i%i%%%", "eu-1eu-1%%"},
	} {
		if got := tc.n.Expand(tc.in); got != tc.out {
			t.Errorf("%s.Expand(%q) = %q, want %q", tc.n, tc.in, got, tc.out)
		}
	}
}
