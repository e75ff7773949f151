package unit

import (
	"errors"
	"path"
	"reflect"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"[Unit]\nDescription=Web\n\n[Service]\nExecStart=/bin/web -p 80\n",
	"[Service]\nExecStart=/bin/sh -c \\\n  'echo hi' \\\n# c\n  arg\\",
	"[X-Fleet]\nConflicts=%p@*.service\nMachineMetadata=\"a=b c\" d=e\nGlobal=true\n",
	"[X-Fleet]\nHealthCheck=http://:80%i/x\nHealthCheckInterval=1s\nHealthCheckOnFailure=kill\nHealthCheckRetries=\n",
	"[X-Fleet]\nMachineOf=db@%i.service\nReplaces=old.service\nMachineID=m1\n",
	"[A]\nx=1\n[B]\ny=2\n[A]\nx=3\\\\\n",
	"A=b\n[Unit\n\r\n=x\n[]\n",
}

// FuzzParse checks that Parse never panics and that the canonical form is a
// fixed point: String of a parsed file parses back to the same String and Hash,
// and every parsed file passes Check.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := Parse("f.service", data)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if err := u.Check("f.service"); err != nil {
			t.Fatalf("parsed file fails Check: %v\n%q", err, u.Options)
		}
		s1 := u.String()
		u2, err := Parse("f.service", []byte(s1))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%q", err, s1)
		}
		if s2 := u2.String(); s2 != s1 {
			t.Fatalf("canonical form is not a fixed point:\n%q\n%q", s1, s2)
		}
		if u.Hash() != u2.Hash() {
			t.Fatal("hash changed")
		}
		if len(u.Options) != len(u2.Options) {
			t.Fatalf("option count changed: %d -> %d", len(u.Options), len(u2.Options))
		}
	})
}

// FuzzParseFleet checks that ParseFleet never panics, returns *Error naming
// X-Fleet, and that what it accepts is consistent with its own rules.
func FuzzParseFleet(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add("web@1.service", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		n, err := ParseName(name)
		if err != nil {
			return
		}
		u, err := Parse(name, data)
		if err != nil {
			return
		}
		fl, err := ParseFleet(n, u)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Section != FleetSection || ue.Field == "" || ue.Unit != name {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		if fl.Global && (fl.MachineID != "" || len(fl.MachineOf)+len(fl.Replaces) > 0) {
			t.Fatalf("global with other options accepted: %+v", fl)
		}
		if fl.MachineID != "" && len(fl.MachineOf) > 0 {
			t.Fatalf("MachineID with MachineOf accepted: %+v", fl)
		}
		for _, r := range fl.MachineOf {
			rn, err := ParseName(r)
			if err != nil || r == name || (rn.IsTemplate() && !n.IsTemplate()) {
				t.Fatalf("bad reference %q accepted in %s", r, name)
			}
			if fl.ConflictsWith(r) || fl.ReplacesUnit(r) {
				t.Fatalf("MachineOf=%s excluded by Conflicts or Replaces accepted in %s", r, name)
			}
		}
		for _, r := range fl.Replaces {
			if _, err := path.Match(r, ""); err != nil {
				t.Fatalf("bad Replaces glob %q accepted in %s", r, name)
			}
		}
		for k, vs := range fl.MachineMetadata {
			if k == "" || len(vs) == 0 {
				t.Fatalf("bad metadata %v", fl.MachineMetadata)
			}
		}
		// Deterministic.
		fl2, _ := ParseFleet(n, u)
		if !reflect.DeepEqual(fl, fl2) {
			t.Fatal("ParseFleet not deterministic")
		}
	})
}

// FuzzParseName checks that ParseName never panics and that accepted names
// decompose consistently.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"web@1.service", "web@.service", "db.service", "a@b@c.service", "@.service", ".service", "x.timer", `a\x2d.mount`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Field != "name" {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		if n.String() != s || len(s) > MaxNameLength || n.Prefix() == "" {
			t.Fatalf("bad name %q: %+v", s, n)
		}
		var rebuilt string
		switch {
		case n.IsInstance():
			rebuilt = n.Prefix() + "@" + n.Instance() + "." + n.Suffix()
		case n.IsTemplate():
			rebuilt = n.Prefix() + "@." + n.Suffix()
		default:
			rebuilt = n.Prefix() + "." + n.Suffix()
		}
		if rebuilt != s || n.Expand("%n") != s || n.Expand("%N")+"."+n.Suffix() != s {
			t.Fatalf("%q does not decompose: %q", s, rebuilt)
		}
		if n.Template() != "" {
			if tn, err := ParseName(n.Template()); err != nil || !tn.IsTemplate() {
				t.Fatalf("Template() %q of %q invalid: %v", n.Template(), s, err)
			}
		}
	})
}

// FuzzExpand checks the specifier expander: it never panics; text without
// a % comes back as it is; the lenient and strict modes agree whenever the
// strict one succeeds; an error names the unknown specifier; and SplitWords
// and SplitCommandLine accept the same values with the same words.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%n %i %%", "%{http_code} 50%", "%Z", "a\\;b ; c \\; '%H' \"%m\"", "%", "\\w %,"} {
		f.Add("web@a-b.service", s)
	}
	f.Fuzz(func(t *testing.T, name, s string) {
		sp := Specifiers{Name: name, MachineID: "m", Hostname: "h", Host: &submitHost}
		got, err := sp.Expand(s)
		if !strings.Contains(s, "%") && (err != nil || got != s) {
			t.Fatalf("Expand(%q) = %q, %v without a %%", s, got, err)
		}
		lenient, _ := expand(s, sp.Lookup, false)
		if err == nil && lenient != got {
			t.Fatalf("strict %q, lenient %q", got, lenient)
		}
		if err != nil && !strings.Contains(err.Error(), "%") {
			t.Fatalf("error %q names no specifier", err)
		}
		words, werr := SplitWords(s, sp.Lookup)
		cmds, cerr := SplitCommandLine(s, sp.Lookup)
		if (werr == nil) != (cerr == nil) {
			t.Fatalf("SplitWords err %v, SplitCommandLine err %v", werr, cerr)
		}
		n := 0
		for _, c := range cmds {
			n += len(c)
		}
		if n > len(words) {
			t.Fatalf("SplitCommandLine gave %d words, SplitWords %d", n, len(words))
		}
	})
}
