package native

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// unitDeps are one unit's dependencies on other units of this machine, as
// written in its [Unit] and [Install] sections (specifiers expanded).
type unitDeps struct {
	requires, requisite, wants, bindsTo, partOf []string
	after, before                               []string
	wantedBy, requiredBy                        []string
}

// depKeys are the dependency keys this manager implements, by section.
var depKeys = map[string]map[string]func(*unitDeps) *[]string{
	"Unit": {
		"Requires":  func(d *unitDeps) *[]string { return &d.requires },
		"Requisite": func(d *unitDeps) *[]string { return &d.requisite },
		"Wants":     func(d *unitDeps) *[]string { return &d.wants },
		"BindsTo":   func(d *unitDeps) *[]string { return &d.bindsTo },
		"PartOf":    func(d *unitDeps) *[]string { return &d.partOf },
		"After":     func(d *unitDeps) *[]string { return &d.after },
		"Before":    func(d *unitDeps) *[]string { return &d.before },
	},
	"Install": {
		"WantedBy":   func(d *unitDeps) *[]string { return &d.wantedBy },
		"RequiredBy": func(d *unitDeps) *[]string { return &d.requiredBy },
	},
}

// empty reports whether the unit names no other unit.
func (d *unitDeps) empty() bool {
	return d == nil || len(d.requires)+len(d.requisite)+len(d.wants)+len(d.bindsTo)+len(d.partOf)+
		len(d.after)+len(d.before)+len(d.wantedBy)+len(d.requiredBy) == 0
}

// parseDeps reads f's dependency keys. Each value is a space-separated
// list of unit names; specifiers are expanded in each. As systemd does
// (config_parse_unit_deps), a word whose specifiers cannot be expanded or
// that is not a unit name, and a dependency of the unit on itself, are
// dropped with a warning; an empty value changes nothing.
func parseDeps(name string, f *unit.File, ex *expander) (*unitDeps, []string) {
	d := &unitDeps{}
	var warnings []string
	for _, o := range f.Options {
		field := depKeys[o.Section][o.Name]
		if field == nil {
			continue
		}
		for _, w := range strings.Fields(o.Value) {
			dep, err := ex.expand(w)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s=%s: %v; ignored", o.Name, w, err))
				continue
			}
			if _, err := unit.ParseName(dep); err != nil {
				warnings = append(warnings, fmt.Sprintf("%s=%s: %q is not a unit name; ignored", o.Name, o.Value, dep))
				continue
			}
			if dep == name {
				warnings = append(warnings, fmt.Sprintf("%s=%s names the unit itself; ignored", o.Name, dep))
				continue
			}
			if list := field(d); !slices.Contains(*list, dep) {
				*list = append(*list, dep)
			}
		}
	}
	return d, warnings
}

// graph is the dependency graph of the units loaded on this machine: a
// pure value, built from their unitDeps. A unit it does not hold is not
// loaded here, and every dependency on it is ignored (fleet places units;
// host units that fleet's units name, such as docker.service, do not exist
// on Flotilla).
type graph struct {
	deps map[string]*unitDeps
	out  map[string]map[string]int // unit -> the loaded units it depends on -> edge kinds
	in   map[string]map[string]int // unit -> the loaded units that depend on it -> edge kinds
}

// edge kinds, after [Install] links and Before= are turned around: a unit
// that says WantedBy=X is wanted by X, as if X said Wants= on it.
const (
	edgeRequires  = 1 << iota // Requires=, RequiredBy= turned around
	edgeRequisite             // Requisite=
	edgeWants                 // Wants=, WantedBy= turned around
	edgeBindsTo               // BindsTo=
	edgePartOf                // PartOf=
	edgeAfter                 // After=, Before= turned around
)

// pulls are the units starting a unit starts too: Requires=, Wants=,
// BindsTo= (Requisite= checks and does not start).
const pulls = edgeRequires | edgeWants | edgeBindsTo

// needs are the dependencies whose failed start, when the unit is ordered
// after them, fails its start too.
const needs = edgeRequires | edgeRequisite | edgeBindsTo

// stops are the dependencies whose stop (or restart) stops (or restarts)
// the dependent unit.
const stops = edgeRequires | edgeRequisite | edgeBindsTo | edgePartOf

func newGraph(deps map[string]*unitDeps) *graph {
	g := &graph{deps: deps, out: map[string]map[string]int{}, in: map[string]map[string]int{}}
	add := func(from, to string, kind int) {
		if _, ok := deps[to]; !ok || from == to {
			return
		}
		if g.out[from] == nil {
			g.out[from] = map[string]int{}
		}
		if g.in[to] == nil {
			g.in[to] = map[string]int{}
		}
		g.out[from][to] |= kind
		g.in[to][from] |= kind
	}
	for name, d := range deps {
		for _, l := range []struct {
			list []string
			kind int
		}{{d.requires, edgeRequires}, {d.requisite, edgeRequisite}, {d.wants, edgeWants},
			{d.bindsTo, edgeBindsTo}, {d.partOf, edgePartOf}, {d.after, edgeAfter}} {
			for _, x := range l.list {
				add(name, x, l.kind)
			}
		}
		for _, x := range d.wantedBy {
			add(x, name, edgeWants)
		}
		for _, x := range d.requiredBy {
			add(x, name, edgeRequires)
		}
		for _, x := range d.before {
			add(x, name, edgeAfter)
		}
	}
	return g
}

// has reports whether name is loaded.
func (g *graph) has(name string) bool {
	_, ok := g.deps[name]
	return ok
}

// sortedWith returns the units x of m with m[x]&kinds != 0, sorted.
func sortedWith(m map[string]int, kinds int) []string {
	var out []string
	for x, k := range m {
		if k&kinds != 0 {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// kinds returns the kinds of name's dependency on dep (0 for none).
func (g *graph) kinds(name, dep string) int { return g.out[name][dep] }

// dependents lists the loaded units that depend on name with one of kinds.
func (g *graph) dependents(name string, kinds int) []string {
	return sortedWith(g.in[name], kinds)
}

// startSet returns name and every loaded unit its start pulls in, directly
// or through others, ordered so that a unit comes after those it is
// ordered after (see ordered).
func (g *graph) startSet(name string) []string {
	if !g.has(name) {
		return nil
	}
	set := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, y := range sortedWith(g.out[x], pulls) {
			if !set[y] {
				set[y] = true
				queue = append(queue, y)
			}
		}
	}
	return g.topo(set)
}

// topo orders set so that each unit follows the units of set it is
// ordered after; ties by name.
func (g *graph) topo(set map[string]bool) []string {
	names := make([]string, 0, len(set))
	for x := range set {
		names = append(names, x)
	}
	sort.Strings(names)
	var out []string
	done := map[string]bool{}
	var visit func(string)
	visit = func(x string) {
		if done[x] {
			return
		}
		done[x] = true
		for _, p := range g.ordered(x) {
			if set[p] {
				visit(p)
			}
		}
		out = append(out, x)
	}
	for _, x := range names {
		visit(x)
	}
	return out
}

// ordered lists the loaded units name starts after (its After= and the
// units that say Before= on it), sorted. An ordering between units of one
// ordering cycle is dropped, as systemd drops a job to break a cycle: they
// start without waiting for each other (cycleOf names them for the log).
func (g *graph) ordered(name string) []string {
	after := sortedWith(g.out[name], edgeAfter)
	if len(after) == 0 {
		return nil
	}
	cyc := g.cycleOf(name)
	out := after[:0]
	for _, x := range after {
		if !slices.Contains(cyc, x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// cycleOf returns the units of the ordering cycle name is part of (its
// strongly connected component under After=/Before=), sorted, or nil.
func (g *graph) cycleOf(name string) []string {
	reach := func(next map[string]map[string]int) map[string]bool {
		seen := map[string]bool{}
		stack := []string{name}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for y, k := range next[x] {
				if k&edgeAfter != 0 && !seen[y] {
					seen[y] = true
					stack = append(stack, y)
				}
			}
		}
		return seen
	}
	fwd := reach(g.out)
	if !fwd[name] {
		return nil
	}
	back := reach(g.in)
	var out []string
	for x := range fwd {
		if back[x] {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// missing lists the hard dependencies (Requires=, Requisite=, BindsTo=)
// of name that are not loaded on this machine: they are ignored.
func (g *graph) missing(name string) []string {
	d := g.deps[name]
	if d == nil {
		return nil
	}
	var out []string
	for _, list := range [][]string{d.requires, d.requisite, d.bindsTo} {
		for _, x := range list {
			if !g.has(x) && !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	sort.Strings(out)
	return out
}
