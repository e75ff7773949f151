package unit

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func fleetOf(t *testing.T, name, xfleet string) (Fleet, error) {
	t.Helper()
	n, err := ParseName(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(name, []byte("[Service]\nExecStart=/bin/true\n[X-Fleet]\n"+xfleet))
	if err != nil {
		t.Fatal(err)
	}
	return ParseFleet(n, f)
}

func TestParseFleet(t *testing.T) {
	for _, tc := range []struct {
		name, unit, xfleet string
		want               Fleet
	}{
		{"empty", "a.service", "", Fleet{}},
		{"machine id", "a.service", "MachineID=abc123\n", Fleet{MachineID: "abc123"}},
		{"machine id repeated same", "a.service", "MachineID=abc\nMachineID=abc\n", Fleet{MachineID: "abc"}},
		{"machine id deprecated", "a.service", "X-ConditionMachineID=abc\n", Fleet{MachineID: "abc"}},
		{"machine of", "a.service", "MachineOf=db.service\n", Fleet{MachineOf: []string{"db.service"}}},
		{"machine of spaces and lines", "a.service", "MachineOf=db.service cache.service\nX-ConditionMachineOf=db.service log.service\n",
			Fleet{MachineOf: []string{"db.service", "cache.service", "log.service"}}},
		{"machine of instance specifier", "web@3.service", "MachineOf=db@%i.service\n", Fleet{MachineOf: []string{"db@3.service"}}},
		{"metadata", "a.service", "MachineMetadata=region=eu region=us\nMachineMetadata=disk=ssd\nX-ConditionMachineMetadata=\"role=front end\"\n",
			Fleet{MachineMetadata: map[string][]string{"region": {"eu", "us"}, "disk": {"ssd"}, "role": {"front end"}}}},
		// fleet's RequiredTargetMetadata skips entries that are not exactly
		// key=value with both sides non-empty.
		{"metadata fleet ignores", "a.service", "MachineMetadata=k=a=b foo= =x foo region=eu\nX-ConditionMachineMetadata=x\n", Fleet{MachineMetadata: map[string][]string{"region": {"eu"}}}},
		{"metadata comparisons (fleet's metadata-op fixture)", "a.service", "MachineMetadata=\"ram>=1024\" ram<=4096 disk!=hdd n<3 n>1 <2\n",
			Fleet{MachineMetadata: map[string][]string{"ram": {">=1024", "<=4096"}, "disk": {"!=hdd"}, "n": {"<3", ">1"}}}},
		{"template metadata with %i", "web@.service", "MachineMetadata=region=%i\n", Fleet{}},
		{"instance metadata with %i", "web@eu.service", "MachineMetadata=region=%i\n", Fleet{MachineMetadata: map[string][]string{"region": {"eu"}}}},
		{"machine id short", "a.service", "MachineID=0123abcd\n", Fleet{MachineID: "0123abcd"}},
		{"boot id (fleet's legacy key, matched as a machine ID)", "a.service", "X-ConditionMachineBootID=abc\n", Fleet{MachineID: "abc"}},
		{"global with conflicts (fleet >= 1.0)", "a.service", "Global=true\nConflicts=b*.service\n", Fleet{Global: true, Conflicts: []string{"b*.service"}}},
		{"replaces glob", "new@2.service", "Replaces=old@*.service\n", Fleet{Replaces: []string{"old@*.service"}}},
		{"replaces self (fleet ignores it)", "a.service", "Replaces=a.service\n", Fleet{Replaces: []string{"a.service"}}},
		{"conflicts globs", "web@1.service", "Conflicts=%p@*.service\nX-Conflicts=db?.service\n", Fleet{Conflicts: []string{"web@*.service", "db?.service"}}},
		{"conflicts self is fine", "web@1.service", "Conflicts=web@1.service\n", Fleet{Conflicts: []string{"web@1.service"}}},
		{"conflicts reset", "a.service", "Conflicts=b.service\nConflicts=\nConflicts=c.service\n", Fleet{Conflicts: []string{"c.service"}}},
		{"global", "a.service", "Global=true\nMachineMetadata=role=edge\n", Fleet{Global: true, MachineMetadata: map[string][]string{"role": {"edge"}}}},
		{"global yes", "a.service", "Global=Yes\n", Fleet{Global: true}},
		{"global false", "a.service", "Global=false\nMachineID=m1\n", Fleet{MachineID: "m1"}},
		{"global last wins", "a.service", "Global=true\nGlobal=0\n", Fleet{}},
		{"replaces", "new.service", "Replaces=old.service old2.service\n", Fleet{Replaces: []string{"old.service", "old2.service"}}},
		{"quoted values", "a.service", "Conflicts=\"b.service\" \"c.service\"\n", Fleet{Conflicts: []string{"b.service", "c.service"}}},
		{"percent literal", "a.service", "MachineMetadata=load=100%%\n", Fleet{MachineMetadata: map[string][]string{"load": {"100%"}}}},
		{"other sections ignored", "a.service", "", Fleet{}},
	} {
		got, err := fleetOf(t, tc.unit, tc.xfleet)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestParseFleetErrors(t *testing.T) {
	for _, tc := range []struct{ name, unit, xfleet, field, msg string }{
		{"unknown key", "a.service", "MachineIDs=x\n", "MachineIDs", "unknown option"},
		{"boot id without fleet's prefix", "a.service", "MachineBootID=x\n", "MachineBootID", "use MachineID"},
		{"replaces bad glob", "a.service", "Replaces=[a\n", "Replaces", "not a valid glob"},
		{"replaces template", "a.service", "Replaces=b@.service\n", "Replaces", "template"},
		{"machine of replaced by glob", "a.service", "MachineOf=db.service\nReplaces=d*.service\n", "MachineOf", "Replaces"},
		{"two machine ids", "a.service", "MachineID=a b\n", "MachineID", "more than one machine"},
		{"two machine ids on lines", "a.service", "MachineID=a\nMachineID=b\n", "MachineID", "more than one machine"},
		{"machine id and of", "a.service", "MachineID=m1\nMachineOf=db.service\n", "MachineOf", "cannot be combined with MachineID"},
		{"machine of self", "a.service", "MachineOf=a.service\n", "MachineOf", "cannot name itself"},
		{"machine of self via specifier", "web@1.service", "MachineOf=%n\n", "MachineOf", "cannot name itself"},
		{"machine of invalid", "a.service", "MachineOf=db\n", "MachineOf", "not a valid unit name"},
		{"machine of glob", "a.service", "MachineOf=db*.service\n", "MachineOf", "not a valid unit name"},
		{"machine of template", "a.service", "MachineOf=db@.service\n", "MachineOf", "template"},
		{"machine of conflicting", "a.service", "MachineOf=db.service\nConflicts=d*.service\n", "MachineOf", "Conflicts"},
		{"machine of replaced", "a.service", "MachineOf=db.service\nReplaces=db.service\n", "MachineOf", "Replaces"},
		{"replaces invalid", "a.service", "Replaces=a b.txt\n", "Replaces", "not a valid unit name"},
		{"bad glob", "a.service", "Conflicts=[a.service\n", "Conflicts", "not a valid glob"},
		{"global not bool", "a.service", "Global=maybe\n", "Global", "not a boolean"},
		{"global two values", "a.service", "Global=true false\n", "Global", "one boolean"},
		{"global with machine id", "a.service", "Global=true\nMachineID=m\n", "Global", "MachineID"},
		{"global with machine of", "a.service", "Global=true\nMachineOf=b.service\n", "Global", "MachineOf"},
		{"global with replaces", "a.service", "Global=yes\nReplaces=b.service\n", "Global", "Replaces"},
		{"unterminated quote", "a.service", "Conflicts=\"b.service\n", "Conflicts", "unterminated"},
	} {
		_, err := fleetOf(t, tc.unit, tc.xfleet)
		var ue *Error
		if !errors.As(err, &ue) {
			t.Errorf("%s: err = %v, want *Error", tc.name, err)
			continue
		}
		if ue.Unit != tc.unit || ue.Section != "X-Fleet" || ue.Field != tc.field || !strings.Contains(ue.Msg, tc.msg) {
			t.Errorf("%s: got %+v, want field %s and %q", tc.name, ue, tc.field, tc.msg)
		}
	}
}

func TestFleetHelpers(t *testing.T) {
	fl := Fleet{Conflicts: []string{"web@*.service"}, MachineMetadata: map[string][]string{"region": {"eu", "us"}, "disk": {"ssd"}}}
	if !fl.ConflictsWith("web@2.service") || fl.ConflictsWith("db.service") {
		t.Error("ConflictsWith")
	}
	for _, tc := range []struct {
		md   map[string]string
		want bool
	}{
		{map[string]string{"region": "eu", "disk": "ssd"}, true},
		{map[string]string{"region": "us", "disk": "ssd", "extra": "x"}, true},
		{map[string]string{"region": "asia", "disk": "ssd"}, false},
		{map[string]string{"region": "eu"}, false},
		{nil, false},
	} {
		if got := fl.MatchesMetadata(tc.md); got != tc.want {
			t.Errorf("MatchesMetadata(%v) = %v", tc.md, got)
		}
	}
	ops := Fleet{MachineMetadata: map[string][]string{"ram": {">=1024", "<=4096"}, "disk": {"!=hdd"}, "zone": {"a", "==b"}}}
	for _, tc := range []struct {
		md   map[string]string
		want bool
	}{
		{map[string]string{"ram": "2048", "disk": "ssd", "zone": "a"}, true},
		{map[string]string{"ram": "1024", "disk": "ssd", "zone": "a"}, true},
		{map[string]string{"ram": "512", "disk": "ssd", "zone": "a"}, false},
		{map[string]string{"ram": "8192", "disk": "ssd", "zone": "a"}, false},
		{map[string]string{"ram": "lots", "disk": "ssd", "zone": "a"}, false},
		{map[string]string{"ram": "2048", "disk": "hdd", "zone": "a"}, false},
		{map[string]string{"ram": "2048", "disk": "ssd", "zone": "b"}, false}, // not "a", and "a" is no comparison
		{map[string]string{"ram": "2048", "disk": "ssd"}, false},
	} {
		if got := ops.MatchesMetadata(tc.md); got != tc.want {
			t.Errorf("comparisons: MatchesMetadata(%v) = %v", tc.md, got)
		}
	}
	if !(Fleet{}).MatchesMetadata(nil) || !(Fleet{}).IsZero() || fl.IsZero() || fl.IsGlobal() || !(Fleet{Global: true}).IsGlobal() {
		t.Error("zero/global helpers")
	}
}

func TestValidate(t *testing.T) {
	good, _ := Parse("x", []byte("[Service]\nExecStart=/bin/web\n[X-Fleet]\nConflicts=%p@*.service\nMachineOf=db@%i.service\n"))
	n, fl, err := Validate("web@.service", good)
	if err != nil || !n.IsTemplate() || !reflect.DeepEqual(fl.Conflicts, []string{"web@*.service"}) {
		t.Errorf("template: %v %v %+v", n, err, fl)
	}
	n, fl, err = Validate("web@2.service", good)
	if err != nil || !n.IsInstance() || !reflect.DeepEqual(fl.MachineOf, []string{"db@2.service"}) {
		t.Errorf("instance: %v %v %+v", n, err, fl)
	}
	for _, tc := range []struct {
		name  string
		f     *File
		field string
		msg   string
	}{
		{"web", good, "name", "unit type"},
		{"a.service", nil, "", "no options"},
		{"a.service", &File{}, "", "no options"},
		{"a.service", FromOptions([]Option{{"Service", "ExecStart", "a\nb"}}), "ExecStart", "line break"},
		{"a.service", FromOptions([]Option{{"X-Fleet", "Global", "sometimes"}}), "Global", "boolean"},
		{"a.service", FromOptions([]Option{{"Service", "ExecStart", "x"}, {"X-Fleet", "MachineOf", "a.service"}}), "MachineOf", "itself"},
	} {
		_, _, err := Validate(tc.name, tc.f)
		var ue *Error
		if !errors.As(err, &ue) || ue.Field != tc.field || !strings.Contains(ue.Msg, tc.msg) {
			t.Errorf("Validate(%s) = %v, want field %q and %q", tc.name, err, tc.field, tc.msg)
		}
	}
}
