package native

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

func TestParseDeps(t *testing.T) {
	text := "[Unit]\nDescription=x\nBindsTo=apache@%i.service\nAfter=apache@%i.service  docker.service\n" +
		"Requires=etcd.service\nRequires=etcd.service flannel.service\nWants=\nWants=%p-log@%i.service\n" +
		"Before=notaunit other.service\nPartOf=apache-discovery@%i.service\nRequisite=%z.service\n" +
		"[Service]\nExecStart=/bin/true\nAfter=ignored.service\n" +
		"[Install]\nWantedBy=multi-user.target\nRequiredBy=web.target\n"
	f, err := unit.Parse("apache-discovery@1.service", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ex := newExpander("apache-discovery@1.service", "m1", "h1")
	d, warnings := parseDeps("apache-discovery@1.service", f, ex)
	want := &unitDeps{
		requires: []string{"etcd.service", "flannel.service"},
		wants:    []string{"apache-discovery-log@1.service"},
		bindsTo:  []string{"apache@1.service"},
		after:    []string{"apache@1.service", "docker.service"},
		before:   []string{"other.service"},
		wantedBy: []string{"multi-user.target"}, requiredBy: []string{"web.target"},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("parseDeps:\n got %+v\nwant %+v", d, want)
	}
	joined := strings.Join(warnings, "\n")
	for _, w := range []string{`"notaunit" is not a unit name`, "PartOf=apache-discovery@1.service names the unit itself", "Requisite=%z.service"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", warnings, w)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings, want 3: %q", len(warnings), warnings)
	}
}

// g builds a graph from "name: Key=a b; Key=c" lines.
func g(t *testing.T, lines ...string) *graph {
	t.Helper()
	deps := map[string]*unitDeps{}
	for _, l := range lines {
		name, rest, _ := strings.Cut(l, ":")
		d := &unitDeps{}
		for _, kv := range strings.Split(rest, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				continue
			}
			var field func(*unitDeps) *[]string
			for _, keys := range depKeys {
				if f := keys[k]; f != nil {
					field = f
				}
			}
			if field == nil {
				t.Fatalf("unknown key %q", k)
			}
			*field(d) = append(*field(d), strings.Fields(v)...)
		}
		deps[strings.TrimSpace(name)] = d
	}
	return newGraph(deps)
}

func TestStartSet(t *testing.T) {
	for _, tc := range []struct {
		what  string
		graph []string
		start string
		want  []string
	}{
		{"sidekick: BindsTo+After pulls the service in, first",
			[]string{"foo-discovery: BindsTo=foo; After=foo", "foo:"}, "foo-discovery", []string{"foo", "foo-discovery"}},
		{"the service does not pull its sidekick",
			[]string{"foo-discovery: BindsTo=foo; After=foo", "foo:"}, "foo", []string{"foo"}},
		{"Requires and Wants pull transitively; unloaded units are ignored",
			[]string{"a: Requires=b docker; Wants=c", "b: Wants=d", "c:", "d:", "e:"}, "a", []string{"a", "b", "c", "d"}},
		{"Requisite does not pull", []string{"a: Requisite=b; After=b", "b:"}, "a", []string{"a"}},
		{"After without a pull starts nothing", []string{"a: After=b", "b:"}, "a", []string{"a"}},
		{"WantedBy= is the wanting unit's Wants=",
			[]string{"web: ", "log: WantedBy=web; After=web", "tgt: WantedBy=multi-user.target"}, "web", []string{"web", "log"}},
		{"RequiredBy= pulls too; Before= orders",
			[]string{"web: ", "db: RequiredBy=web; Before=web"}, "web", []string{"db", "web"}},
		{"order follows After chains", []string{"a: Wants=b c; After=c", "b: After=a", "c:"}, "a", []string{"c", "a", "b"}},
		{"an ordering cycle is broken, by name",
			[]string{"b: Wants=a; After=a", "a: After=b", "c: After=a; Wants=a"}, "b", []string{"a", "b"}},
		{"not loaded", []string{"a:"}, "zz", nil},
	} {
		if got := g(t, tc.graph...).startSet(tc.start); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: startSet(%s) = %v, want %v", tc.what, tc.start, got, tc.want)
		}
	}
}

func TestDependents(t *testing.T) {
	gr := g(t, "x:", "req: Requires=x", "bind: BindsTo=x", "part: PartOf=x", "want: Wants=x; After=x",
		"reqby: ", "x2: RequiredBy=reqby", "isit: Requisite=x", "after: After=x")
	if got, want := gr.dependents("x", stops), []string{"bind", "isit", "part", "req"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stop of x stops %v, want %v", got, want)
	}
	if got, want := gr.dependents("x2", stops), []string{"reqby"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RequiredBy=reqby: stop of x2 stops %v, want %v", got, want)
	}
	if got, want := gr.dependents("x", edgeBindsTo), []string{"bind"}; !reflect.DeepEqual(got, want) {
		t.Errorf("bound to x: %v, want %v", got, want)
	}
	if gr.kinds("want", "x")&needs != 0 || gr.kinds("req", "x")&needs == 0 || gr.kinds("isit", "x")&needs == 0 {
		t.Error("needs: Wants= must not fail a start, Requires= and Requisite= must")
	}
}

func TestOrderingCycles(t *testing.T) {
	gr := g(t, "a: After=b", "b: After=c", "c: After=a", "d: After=a", "e: Before=e2", "e2: Before=e", "f: After=f")
	for _, tc := range []struct {
		unit    string
		cycle   []string
		ordered []string
	}{
		{"a", []string{"a", "b", "c"}, nil},
		{"c", []string{"a", "b", "c"}, nil},
		{"d", nil, []string{"a"}},
		{"e", []string{"e", "e2"}, nil},
		{"f", nil, nil}, // a unit ordered after itself: dropped at the edge
	} {
		if got := gr.cycleOf(tc.unit); !reflect.DeepEqual(got, tc.cycle) {
			t.Errorf("cycleOf(%s) = %v, want %v", tc.unit, got, tc.cycle)
		}
		if got := gr.ordered(tc.unit); !reflect.DeepEqual(got, tc.ordered) {
			t.Errorf("ordered(%s) = %v, want %v", tc.unit, got, tc.ordered)
		}
	}
}

func TestMissingDeps(t *testing.T) {
	gr := g(t, "a: Requires=docker.service b; BindsTo=etcd.service; Wants=w; Requisite=docker.service", "b:")
	if got, want := gr.missing("a"), []string{"docker.service", "etcd.service"}; !reflect.DeepEqual(got, want) {
		t.Errorf("missing = %v, want %v", got, want)
	}
}
