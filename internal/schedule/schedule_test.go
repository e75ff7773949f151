package schedule

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// mu builds a Unit from [X-Fleet] lines, parsed as the API would.
func mu(t testing.TB, name string, xfleet ...string) Unit {
	t.Helper()
	n, err := unit.ParseName(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := unit.Parse(name, []byte("[Service]\nExecStart=/bin/true\n[X-Fleet]\n"+strings.Join(xfleet, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	fl, err := unit.ParseFleet(n, f)
	if err != nil {
		t.Fatal(err)
	}
	return Unit{Name: name, Fleet: fl}
}

// mm builds a Machine from "k=v" metadata.
func mm(id string, kv ...string) Machine {
	md := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		md[k] = v
	}
	return Machine{ID: id, Metadata: md}
}

func machines(ids ...string) []Machine {
	var ms []Machine
	for _, id := range ids {
		ms = append(ms, mm(id))
	}
	return ms
}

type P = map[string][]string

func TestPlace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		machines []Machine
		units    func(t *testing.T) []Unit
		current  P
		want     P
		unplaced map[string]string // unit -> substring of the reason
	}{
		{
			name:     "least loaded, ties by machine ID",
			machines: machines("m2", "m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "c.service"), mu(t, "a.service"), mu(t, "b.service")}
			},
			want: P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m1"}},
		},
		{
			name:     "template instances with Conflicts spread over machines",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "web@1.service", "Conflicts=%p@*.service"), mu(t, "web@2.service", "Conflicts=%p@*.service"),
					mu(t, "web@3.service", "Conflicts=%p@*.service"), mu(t, "db.service")}
			},
			current: P{"db.service": {"m1"}},
			want:    P{"db.service": {"m1"}, "web@1.service": {"m2"}, "web@2.service": {"m3"}, "web@3.service": {"m1"}},
		},
		{
			name:     "four conflicting instances on three machines",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				var us []Unit
				for _, i := range []string{"1", "2", "3", "4"} {
					us = append(us, mu(t, "web@"+i+".service", "Conflicts=web@*.service"))
				}
				return us
			},
			want:     P{"web@1.service": {"m1"}, "web@2.service": {"m2"}, "web@3.service": {"m3"}},
			unplaced: map[string]string{"web@4.service": "all 3 eligible machines run units it conflicts with (e.g. m1 runs web@1.service"},
		},
		{
			name:     "conflicts are symmetric",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "b.service", "Conflicts=a.service"), mu(t, "c.service")}
			},
			current: P{"a.service": {"m1"}},
			// c would go to m2 by name order after b took m2; b avoids m1 because its pattern matches a.
			want: P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m1"}},
		},
		{
			name:     "metadata: values of one key OR",
			machines: []Machine{mm("m1", "region=asia"), mm("m2", "region=us"), mm("m3", "region=eu"), mm("m4")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineMetadata=region=eu region=us"), mu(t, "b.service", "MachineMetadata=region=eu", "MachineMetadata=region=us")}
			},
			want: P{"a.service": {"m2"}, "b.service": {"m3"}},
		},
		{
			name:     "metadata: keys AND",
			machines: []Machine{mm("m1", "region=eu"), mm("m2", "disk=ssd"), mm("m3", "region=eu", "disk=ssd")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineMetadata=region=eu disk=ssd"), mu(t, "b.service", "MachineMetadata=region=eu", "MachineMetadata=disk=ssd")}
			},
			want: P{"a.service": {"m3"}, "b.service": {"m3"}},
		},
		{
			name:     "metadata nobody has",
			machines: []Machine{mm("m1", "region=eu")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineMetadata=region=mars region=moon disk=ssd")}
			},
			unplaced: map[string]string{"a.service": "no machine has metadata disk=ssd, region=mars|moon"},
		},
		{
			name:     "MachineID",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=m3"), mu(t, "b.service", "MachineID=m3"), mu(t, "c.service", "MachineID=gone")}
			},
			want:     P{"a.service": {"m3"}, "b.service": {"m3"}},
			unplaced: map[string]string{"c.service": "MachineID=gone is not a machine of the cluster"},
		},
		{
			name:     "MachineID with metadata it lacks",
			machines: []Machine{mm("m1", "region=eu")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=m1", "MachineMetadata=region=us")}
			},
			unplaced: map[string]string{"a.service": "machine m1 (MachineID) does not have metadata region=us"},
		},
		{
			name:     "MachineOf follows its target, placed first",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineOf=z.service"), mu(t, "b.service"), mu(t, "z.service", "MachineOf=y.service"), mu(t, "y.service")}
			},
			current: P{"b.service": {"m1"}},
			// y first (m2, least loaded), then z and a follow it.
			want: P{"a.service": {"m2"}, "b.service": {"m1"}, "y.service": {"m2"}, "z.service": {"m2"}},
		},
		{
			name:     "MachineOf several targets",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineOf=x.service y.service"), mu(t, "x.service"), mu(t, "y.service"),
					mu(t, "b.service", "MachineOf=x.service z.service"), mu(t, "z.service")}
			},
			current:  P{"x.service": {"m1"}, "y.service": {"m1"}, "z.service": {"m2"}},
			want:     P{"a.service": {"m1"}, "x.service": {"m1"}, "y.service": {"m1"}, "z.service": {"m2"}},
			unplaced: map[string]string{"b.service": "the units it names are on different machines"},
		},
		{
			name:     "MachineOf target missing or unplaceable",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineOf=db.service"), mu(t, "b.service", "MachineOf=c.service"), mu(t, "c.service", "MachineID=m9")}
			},
			unplaced: map[string]string{
				"a.service": "MachineOf=db.service is not placed: no such unit",
				"b.service": "MachineOf=c.service is not placed (MachineID=m9 is not a machine",
				"c.service": "MachineID=m9",
			},
		},
		{
			name:     "MachineOf cycle",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineOf=b.service"), mu(t, "b.service", "MachineOf=a.service"), mu(t, "c.service", "MachineOf=a.service"), mu(t, "d.service")}
			},
			want: P{"d.service": {"m1"}},
			unplaced: map[string]string{
				"a.service": "MachineOf cycle among a.service, b.service",
				"b.service": "MachineOf cycle among a.service, b.service",
				"c.service": "MachineOf=a.service is not placed (MachineOf cycle",
			},
		},
		{
			name:     "MachineOf a global unit",
			machines: []Machine{mm("m1"), mm("m2", "role=edge"), mm("m3", "role=edge")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "proxy.service", "Global=true", "MachineMetadata=role=edge"), mu(t, "sidecar.service", "MachineOf=proxy.service")}
			},
			want: P{"proxy.service": {"m2", "m3"}, "sidecar.service": {"m2"}},
		},
		{
			name:     "dead machine: unit moves to the least loaded other",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "b.service"), mu(t, "c.service"), mu(t, "d.service"), mu(t, "e.service")}
			},
			current: P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m2"}, "d.service": {"dead"}, "e.service": {"m3"}},
			want:    P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m2"}, "d.service": {"m1"}, "e.service": {"m3"}},
		},
		{
			name:     "global units on metadata-matching machines only, counted as load",
			machines: []Machine{mm("m1", "role=edge"), mm("m2"), mm("m3", "role=edge")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "g.service", "Global=true", "MachineMetadata=role=edge"), mu(t, "all.service", "Global=yes"),
					mu(t, "none.service", "Global=true", "MachineMetadata=role=gpu")}
			},
			current:  P{"g.service": {"m2"}}, // ignored for global units
			want:     P{"a.service": {"m2"}, "g.service": {"m1", "m3"}, "all.service": {"m1", "m2", "m3"}},
			unplaced: map[string]string{"none.service": "no machine has metadata role=gpu"},
		},
		{
			name:     "conflicting with a global unit avoids its machines",
			machines: []Machine{mm("m1", "role=edge"), mm("m2", "role=edge"), mm("m3")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "mon.service", "Global=true", "MachineMetadata=role=edge"), mu(t, "a.service", "Conflicts=mon.*"),
					mu(t, "b.service", "Replaces=mon.service"), mu(t, "c.service", "Conflicts=mon.service", "MachineID=m1")}
			},
			want:     P{"mon.service": {"m1", "m2"}, "a.service": {"m3"}, "b.service": {"m3"}},
			unplaced: map[string]string{"c.service": "the only eligible machine, m1, runs mon.service, which it conflicts with"},
		},
		{
			// fleet PR #1571 (issue #1109): a global unit with Conflicts runs
			// on every matching machine except where a unit it conflicts
			// with runs; normal units keep their machines.
			name:     "global with Conflicts yields to the units it conflicts with",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=m2"), mu(t, "c.service", "Global=true", "Conflicts=a.service"),
					mu(t, "b.service", "Conflicts=c.service")}
			},
			current: P{"b.service": {"m3"}},
			want:    P{"a.service": {"m2"}, "b.service": {"m3"}, "c.service": {"m1"}},
		},
		{
			name:     "two globals: the one with Conflicts yields",
			machines: []Machine{mm("m1", "role=server"), mm("m2", "role=server"), mm("m3")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "consul-agent.service", "Global=true", "Conflicts=consul-server.service"),
					mu(t, "consul-server.service", "Global=true", "MachineMetadata=role=server")}
			},
			want: P{"consul-server.service": {"m1", "m2"}, "consul-agent.service": {"m3"}},
		},
		{
			name:     "global with Conflicts everywhere blocked",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "g.service", "Global=true", "Conflicts=a.service"), mu(t, "f.service", "MachineOf=g.service")}
			},
			want: P{"a.service": {"m1"}},
			unplaced: map[string]string{
				"g.service": "the only eligible machine, m1, runs a.service, which it conflicts with",
				"f.service": "names a global unit with Conflicts",
			},
		},
		{
			// fleet's MachineState.MatchID: the full ID or its first 8
			// characters; of several machines sharing them, the least loaded.
			name:     "MachineID by the short ID",
			machines: []Machine{mm("0123abcd11112222"), mm("0123abcd33334444"), mm("ffffffff00000000")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=ffffffff"), mu(t, "b.service", "MachineID=0123abcd"),
					mu(t, "c.service", "MachineID=0123abcd"), mu(t, "d.service", "MachineID=0123abc"), mu(t, "e.service", "MachineID=0123abcd33334444")}
			},
			want:     P{"a.service": {"ffffffff00000000"}, "b.service": {"0123abcd11112222"}, "c.service": {"0123abcd33334444"}, "e.service": {"0123abcd33334444"}},
			unplaced: map[string]string{"d.service": "MachineID=0123abc is not a machine of the cluster"},
		},
		{
			// fleet's metadata-op fixture: MachineMetadata="ram>=1024".
			name:     "metadata comparisons",
			machines: []Machine{mm("m1", "ram=512"), mm("m2", "ram=2048"), mm("m3", "ram=lots")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "big.service", `MachineMetadata="ram>=1024"`), mu(t, "huge.service", "MachineMetadata=ram>4096")}
			},
			want:     P{"big.service": {"m2"}},
			unplaced: map[string]string{"huge.service": "no machine has metadata ram>4096"},
		},
		{
			name:     "Replaces with a glob",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "old@1.service"), mu(t, "old@2.service"), mu(t, "other.service"),
					mu(t, "new.service", "MachineID=m1", "Replaces=old@*.service")}
			},
			current: P{"old@1.service": {"m1"}, "old@2.service": {"m1"}, "other.service": {"m1"}},
			want:    P{"new.service": {"m1"}, "old@1.service": {"m2"}, "old@2.service": {"m2"}, "other.service": {"m1"}},
		},
		{
			name:     "Replaces: the replacing unit takes the machine, the replaced one moves",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "old.service"), mu(t, "new.service", "MachineID=m1", "Replaces=old.service"), mu(t, "side.service", "MachineOf=old.service")}
			},
			current: P{"old.service": {"m1"}, "side.service": {"m1"}},
			want:    P{"new.service": {"m1"}, "old.service": {"m2"}, "side.service": {"m2"}},
		},
		{
			name:     "Replaces: the replaced unit pinned to the machine becomes unplaceable",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "old.service", "MachineID=m1"), mu(t, "new.service", "MachineID=m1", "Replaces=old.service")}
			},
			current:  P{"old.service": {"m1"}},
			want:     P{"new.service": {"m1"}},
			unplaced: map[string]string{"old.service": "m1, runs new.service, which replaces it"},
		},
		{
			name:     "Replaces: no eviction when another machine will do",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "old.service"), mu(t, "new.service", "Replaces=old.service"), mu(t, "b.service"), mu(t, "c.service")}
			},
			current: P{"old.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m2"}, "gone.service": {"m1"}},
			// m1 is less loaded but would need an eviction.
			want: P{"new.service": {"m2"}, "old.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m2"}},
		},
		{
			name:     "Replaces: sharing a machine now, the replacing unit stays",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a-old.service"), mu(t, "z-new.service", "Replaces=a-old.service")}
			},
			current: P{"a-old.service": {"m1"}, "z-new.service": {"m1"}},
			want:    P{"z-new.service": {"m1"}, "a-old.service": {"m2"}},
		},
		{
			name:     "Replaces cycle: one runs, the one running now",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "Replaces=b.service"), mu(t, "b.service", "Replaces=c.service"), mu(t, "c.service", "Replaces=a.service")}
			},
			current: P{"c.service": {"m1"}},
			want:    P{"c.service": {"m1"}},
			unplaced: map[string]string{
				"a.service": "a.service, b.service, c.service replace one another in a cycle, so only one of them runs: c.service",
				"b.service": "only one of them runs: c.service",
			},
		},
		{
			// fleet's functional TestScheduleReplace: replace.1 Replaces
			// replace.0, started after it on two machines: both run, apart.
			name:     "fleet TestScheduleReplace: both run on different machines",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "replace.0.service"), mu(t, "replace.1.service", "Replaces=replace.0.service")}
			},
			current: P{"replace.0.service": {"m1"}},
			want:    P{"replace.0.service": {"m1"}, "replace.1.service": {"m2"}},
		},
		{
			// fleet's functional TestScheduleCircularReplace: replace.0 and
			// replace.1 replace each other: one of the two runs, though two
			// machines are free.
			name:     "fleet TestScheduleCircularReplace: one of two runs",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "replace.0.service", "Replaces=replace.1.service"), mu(t, "replace.1.service", "Replaces=replace.0.service")}
			},
			current:  P{"replace.0.service": {"m2"}},
			want:     P{"replace.0.service": {"m2"}},
			unplaced: map[string]string{"replace.1.service": "only one of them runs: replace.0.service"},
		},
		{
			name:     "Replaces cycle, none running: the later one runs now, it keeps running",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "Replaces=b.service"), mu(t, "b.service", "Replaces=a.service")}
			},
			current:  P{"b.service": {"m1"}, "a.service": {"m9"}}, // m9 is dead
			want:     P{"b.service": {"m1"}},
			unplaced: map[string]string{"a.service": "only one of them runs: b.service"},
		},
		{
			name:     "Replaces cycle, none running: the first that some machine can take",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=m7", "Replaces=b.service"), mu(t, "b.service", "Replaces=a.service"), mu(t, "c.service", "Replaces=a.service")}
			},
			// c replaces a, which does not run: c goes where it likes.
			want:     P{"b.service": {"m1"}, "c.service": {"m2"}},
			unplaced: map[string]string{"a.service": "only one of them runs: b.service"},
		},
		{
			// The choice is by MachineID and metadata only: a Conflicts that
			// keeps the chosen unit out leaves none of the cycle running.
			name:     "Replaces cycle: the chosen unit cannot be placed, none runs",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "Replaces=b.service", "Conflicts=x.service"), mu(t, "b.service", "Replaces=a.service"), mu(t, "x.service", "MachineID=m1")}
			},
			current: P{"x.service": {"m1"}},
			want:    P{"x.service": {"m1"}},
			unplaced: map[string]string{
				"a.service": "runs x.service, which it conflicts with",
				"b.service": "only one of them runs: a.service",
			},
		},
		{
			name:     "Replaces cycle: the running unit cannot stay, the choice goes by name",
			machines: []Machine{mm("m1", "r=1"), mm("m2", "r=1")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "Replaces=b.service"), mu(t, "b.service", "Replaces=a.service", "Conflicts=x.service"), mu(t, "x.service", "MachineMetadata=r=1", "Global=true")}
			},
			current:  P{"b.service": {"m1"}},
			want:     P{"a.service": {"m1"}, "x.service": {"m1", "m2"}},
			unplaced: map[string]string{"b.service": "only one of them runs: a.service"},
		},
		{
			name:     "Replaces glob: every unit it matches, not itself",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{{Name: "web-new.service", Fleet: unit.Fleet{Replaces: []string{"web-*.service"}}}, mu(t, "web-old.service"), mu(t, "web-older.service"), mu(t, "db.service")}
			},
			current: P{"web-old.service": {"m1"}, "web-older.service": {"m1"}, "db.service": {"m1"}},
			want:    P{"web-new.service": {"m1"}, "db.service": {"m1"}},
			unplaced: map[string]string{
				"web-old.service":   "runs web-new.service, which replaces it",
				"web-older.service": "runs web-new.service, which replaces it",
			},
		},
		{
			name:     "Replaces: no eviction of a unit it follows",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineOf=c.service"), mu(t, "b.service", "MachineOf=a.service", "Replaces=c.service"), mu(t, "c.service")}
			},
			current:  P{"c.service": {"m1"}, "a.service": {"m1"}},
			want:     P{"a.service": {"m1"}, "c.service": {"m1"}},
			unplaced: map[string]string{"b.service": "c.service, which it replaces but cannot evict"},
		},
		{
			name:     "Replaces: a unit that failed is retried after an eviction",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineID=m1"), mu(t, "b.service", "MachineID=m1", "Conflicts=a.service"), mu(t, "z.service", "MachineID=m1", "Replaces=a.service")}
			},
			current:  P{"a.service": {"m1"}},
			want:     P{"b.service": {"m1"}, "z.service": {"m1"}},
			unplaced: map[string]string{"a.service": "runs z.service, which replaces it"},
		},
		{
			name:     "Replaces chain: evictions cascade down it",
			machines: []Machine{mm("m1", "disk=ssd"), mm("m2", "disk=ssd"), mm("m3")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "x.service", "MachineID=m2", "Replaces=y.service"), mu(t, "y.service", "MachineMetadata=disk=ssd", "Replaces=z.service"), mu(t, "z.service")}
			},
			current: P{"y.service": {"m2"}, "z.service": {"m1"}},
			// x takes m2 from y, y can only go to m1 and takes it from z.
			want: P{"x.service": {"m2"}, "y.service": {"m1"}, "z.service": {"m3"}},
		},
		{
			name:     "Replaces chain closed by MachineOf: no eviction around the cycle",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				// c evicting a, a evicting web@2 and with it b, b evicting c
				// would go round forever (fuzz find): all act as Conflicts.
				return []Unit{mu(t, "a.service", "Replaces=web@2.service"), mu(t, "b.service", "MachineOf=web@2.service", "Replaces=c.service"),
					mu(t, "c.service", "Replaces=a.service"), mu(t, "web@2.service"), mu(t, "d.service")}
			},
			want: P{"a.service": {"m1"}, "d.service": {"m1"}},
			unplaced: map[string]string{
				"web@2.service": "runs a.service, which replaces it",
				"b.service":     "MachineOf=web@2.service is not placed",
				"c.service":     "runs a.service, which it replaces but cannot evict: Replaces and MachineOf form a cycle",
			},
		},
		{
			name:     "Replaces chain closed by MachineOf: what runs now stays",
			machines: machines("m1"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "Replaces=web@2.service"), mu(t, "b.service", "MachineOf=web@2.service", "Replaces=c.service"),
					mu(t, "c.service", "Replaces=a.service"), mu(t, "web@2.service"), mu(t, "d.service")}
			},
			current: P{"b.service": {"m1"}, "web@2.service": {"m1"}},
			want:    P{"b.service": {"m1"}, "d.service": {"m1"}, "web@2.service": {"m1"}},
			unplaced: map[string]string{
				"a.service": "runs web@2.service, which it replaces but cannot evict",
				"c.service": "runs b.service, which replaces it",
			},
		},
		{
			name:     "Replaces by a global unit acts as Conflicts",
			machines: []Machine{mm("m1", "role=edge"), mm("m2")},
			units: func(t *testing.T) []Unit {
				// unit.ParseFleet refuses Global with Replaces; Place copes anyway.
				g := Unit{Name: "g.service", Fleet: unit.Fleet{Global: true, MachineMetadata: map[string][]string{"role": {"edge"}}, Replaces: []string{"a.service"}}}
				return []Unit{g, mu(t, "a.service"),
					mu(t, "b.service", "MachineID=m1", "Replaces=g.service")}
			},
			current:  P{"a.service": {"m1"}},
			want:     P{"g.service": {"m1"}, "a.service": {"m2"}},
			unplaced: map[string]string{"b.service": "runs g.service, which it replaces but cannot evict: it is global"},
		},
		{
			name:     "MachineID and MachineOf both hold",
			machines: machines("m1", "m2"),
			units: func(t *testing.T) []Unit {
				// unit.ParseFleet refuses the combination; Place copes anyway.
				return []Unit{{Name: "a.service", Fleet: unit.Fleet{MachineID: "m2", MachineOf: []string{"t.service"}}}, mu(t, "t.service")}
			},
			current:  P{"t.service": {"m1"}},
			want:     P{"t.service": {"m1"}},
			unplaced: map[string]string{"a.service": "MachineOf=t.service is not on its MachineID=m2"},
		},
		{
			name:     "stability: unbalanced placements are kept",
			machines: machines("m1", "m2", "m3"),
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "b.service"), mu(t, "c.service"), mu(t, "d.service")}
			},
			current: P{"a.service": {"m1"}, "b.service": {"m1"}, "c.service": {"m1"}},
			want:    P{"a.service": {"m1"}, "b.service": {"m1"}, "c.service": {"m1"}, "d.service": {"m2"}},
		},
		{
			name:     "stability ends when a rule no longer holds",
			machines: []Machine{mm("m1", "region=us"), mm("m2", "region=eu")},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "MachineMetadata=region=eu"), mu(t, "b.service", "Conflicts=c.service"), mu(t, "c.service")}
			},
			current: P{"a.service": {"m1"}, "b.service": {"m1"}, "c.service": {"m1", "m2"}},
			// c is on two machines (bad data): the first valid one is kept; b
			// comes first by name so c moves off m1.
			want: P{"a.service": {"m2"}, "b.service": {"m1"}, "c.service": {"m2"}},
		},
		{
			name:     "template in the input is never placed",
			machines: machines("m1"),
			units:    func(t *testing.T) []Unit { return []Unit{{Name: "web@.service"}} },
			unplaced: map[string]string{"web@.service": "templates are never scheduled"},
		},
		{
			name:     "no machines",
			units:    func(t *testing.T) []Unit { return []Unit{mu(t, "a.service"), mu(t, "g.service", "Global=true")} },
			unplaced: map[string]string{"a.service": "no machines in the cluster", "g.service": "no machines in the cluster"},
		},
		{
			name:     "duplicates in the input",
			machines: append(machines("m1", "m1"), Machine{}),
			units:    func(t *testing.T) []Unit { return []Unit{mu(t, "a.service"), mu(t, "a.service")} },
			want:     P{"a.service": {"m1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{Machines: tc.machines, Units: tc.units(t), Current: tc.current}
			r := Place(s)
			want := tc.want
			if want == nil {
				want = P{}
			}
			if !reflect.DeepEqual(r.Placements, want) {
				t.Errorf("placements:\n got %v\nwant %v", r.Placements, want)
			}
			if len(r.Unplaceable) != len(tc.unplaced) {
				t.Errorf("unplaceable: got %v, want %v", r.Unplaceable, tc.unplaced)
			}
			for u, sub := range tc.unplaced {
				if !strings.Contains(r.Unplaceable[u], sub) {
					t.Errorf("unplaceable[%s] = %q, want it to contain %q", u, r.Unplaceable[u], sub)
				}
			}
			// Settled, and a fixed point.
			if _, settled := place(s); !settled {
				t.Errorf("placement did not settle")
			}
			s2 := s
			s2.Current = r.Placements
			if r2 := Place(s2); !reflect.DeepEqual(r2.Placements, r.Placements) {
				t.Errorf("not a fixed point: fed back, placements become %v", r2.Placements)
			}
			// Determinism: any input order gives the same result.
			rng := rand.New(rand.NewSource(1))
			for k := 0; k < 5; k++ {
				s2 := s
				s2.Machines = append([]Machine(nil), s.Machines...)
				s2.Units = append([]Unit(nil), s.Units...)
				rng.Shuffle(len(s2.Machines), func(i, j int) { s2.Machines[i], s2.Machines[j] = s2.Machines[j], s2.Machines[i] })
				rng.Shuffle(len(s2.Units), func(i, j int) { s2.Units[i], s2.Units[j] = s2.Units[j], s2.Units[i] })
				if r2 := Place(s2); !reflect.DeepEqual(r, r2) {
					t.Fatalf("not deterministic under input order:\n%v\n%v", r, r2)
				}
			}
		})
	}
}

func TestMachineOfCycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		units []Unit
		want  []string
	}{
		{"none", []Unit{mu(t, "a.service", "MachineOf=b.service"), mu(t, "b.service")}, nil},
		{"two", []Unit{mu(t, "b.service", "MachineOf=a.service"), mu(t, "a.service", "MachineOf=b.service")}, []string{"a.service", "b.service"}},
		{"three plus a follower", []Unit{mu(t, "x.service", "MachineOf=c.service"), mu(t, "c.service", "MachineOf=d.service"),
			mu(t, "d.service", "MachineOf=e.service"), mu(t, "e.service", "MachineOf=c.service")}, []string{"c.service", "d.service", "e.service"}},
		{"self", []Unit{{Name: "s.service", Fleet: unit.Fleet{MachineOf: []string{"s.service"}}}}, []string{"s.service"}},
		{"smallest of two cycles", []Unit{mu(t, "y.service", "MachineOf=z.service"), mu(t, "z.service", "MachineOf=y.service"),
			mu(t, "m.service", "MachineOf=n.service"), mu(t, "n.service", "MachineOf=m.service")}, []string{"m.service", "n.service"}},
		{"missing target", []Unit{mu(t, "a.service", "MachineOf=gone.service")}, nil},
	} {
		if got := MachineOfCycle(tc.units); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
