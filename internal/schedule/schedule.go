package schedule

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// Machine is an alive machine of the cluster.
type Machine struct {
	ID       string
	Metadata map[string]string
	// Cordoned: units placed there stay (Current), nothing new goes there
	// (fleetctl cordon).
	Cordoned bool
	// Capacity is what units may reserve there in all; a zero field means
	// the machine reported none, so it takes no reservation of it.
	Capacity unit.Resources
}

// Unit is a unit that should run (desired loaded or launched), with its
// [X-Fleet] options already expanded for its name. Templates never appear
// here; if one does, it is reported unplaceable.
type Unit struct {
	Name  string
	Fleet unit.Fleet
}

// Snapshot is the cluster state placement is computed from.
type Snapshot struct {
	Machines []Machine
	Units    []Unit
	// Current maps a unit name to the machine IDs it is placed on now. It
	// may name dead machines and units that no longer should run: both are
	// ignored.
	Current map[string][]string
}

// Result is where every unit of the snapshot should run. Each unit is in
// exactly one of the two maps.
type Result struct {
	// Placements maps a unit to its machines, sorted: one for a normal unit,
	// every matching machine for a global one.
	Placements map[string][]string
	// Unplaceable maps a unit to a reason fit for a user, such as
	// "no machine has metadata region=eu" or "MachineOf=db.service is not placed".
	Unplaceable map[string]string
}

// Place computes placements for s. See the package documentation for the rules.
func Place(s Snapshot) Result {
	r, _ := place(s)
	return r
}

// place is Place, also reporting whether placement ended on a pass that
// evicted nothing, as it always should (the tests check it): if the bound on
// passes cut it short, the result might not be a fixed point.
func place(s Snapshot) (Result, bool) {
	p, settled := run(s)
	return p.result(), settled
}

// MachineOfCycle returns the names, sorted, of the units forming a MachineOf
// cycle (a.service MachineOf b.service MachineOf a.service), or nil if there
// is none. When there are several, it returns the one holding the smallest
// name. The API uses it to refuse a submit that would create a cycle.
func MachineOfCycle(units []Unit) []string {
	g := newGraph(units)
	var best []string
	for _, scc := range g.sccs() {
		if !g.isCycle(scc) {
			continue
		}
		names := make([]string, len(scc))
		for i, v := range scc {
			names[i] = g.names[v]
		}
		sort.Strings(names)
		if best == nil || names[0] < best[0] {
			best = names
		}
	}
	return best
}

// graph is the MachineOf graph: an edge from a follower to each target.
type graph struct {
	names []string
	edges [][]int
}

func newGraph(units []Unit) *graph {
	g := &graph{}
	idx := map[string]int{}
	for _, u := range units {
		if _, ok := idx[u.Name]; ok {
			continue
		}
		idx[u.Name] = len(g.names)
		g.names = append(g.names, u.Name)
	}
	g.edges = make([][]int, len(g.names))
	seen := make([]bool, len(g.names))
	for _, u := range units {
		i := idx[u.Name]
		if seen[i] {
			continue
		}
		seen[i] = true
		for _, t := range u.Fleet.MachineOf {
			if j, ok := idx[t]; ok {
				g.edges[i] = append(g.edges[i], j)
			}
		}
	}
	return g
}

// sccs returns the strongly connected components with Tarjan's algorithm,
// roots taken in the order of g.names and edges in their listed order; every
// component comes after the components it has edges to (targets first).
func (g *graph) sccs() [][]int {
	n := len(g.names)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.edges[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var c []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				c = append(c, w)
				if w == v {
					break
				}
			}
			out = append(out, c)
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return out
}

func (g *graph) isCycle(scc []int) bool {
	if len(scc) > 1 {
		return true
	}
	for _, w := range g.edges[scc[0]] {
		if w == scc[0] {
			return true
		}
	}
	return false
}

// placer holds one Place call's working state. Units and machines are
// referred to by index into the sorted, deduplicated slices.
type placer struct {
	machines []Machine
	mIndex   map[string]int
	units    []*punit
	uIndex   map[string]int
	order    []int // normal units, MachineOf targets first

	load    []int            // units on each machine, global ones included
	free    []unit.Resources // capacity not reserved, per machine
	members [][]int          // units on each machine, for reasons only
	on      []int            // machine of each normal unit, -1 when not placed
	global  [][]int          // machines of each global unit

	// Conflict index: for each distinct pattern, per machine, how many units
	// there match it and how many units there carry it.
	patterns []string
	matchOn  [][]int32
	ownOn    [][]int32

	current    map[string][]string
	anyEvicted bool
	reason     []string

	// Replaces cycles (see oneOfReplacesCycles): the unit of each allowed
	// to run, and whether it was chosen for running now; with static, the
	// choice ignores Current.
	holder []int
	kept   []bool
	static bool
}

type punit struct {
	name       string
	fl         unit.Fleet
	pats       []int   // ids of this unit's Conflicts patterns (plus Replaces acting as Conflicts)
	matchedBy  []int   // ids of the patterns matching this unit's name
	replaces   []int   // normal units this one replaces and may evict
	replacedBy []int   // units replacing this one that may evict it
	avoids     []avoid // units this one replaces but may not evict: Replaces acts as Conflicts
	avoidedBy  []int   // units replacing this one that may not evict it
	targets    []int   // MachineOf targets
	followers  []int   // units with MachineOf naming this one
	missingOf  string
	metaOK     []bool // per machine, shared between units; nil without MachineMetadata
	// yields: a global unit with Conflicts of its own, placed after every
	// normal unit on the machines where it conflicts with none (fleet's
	// agent skips such machines); see placeConflictingGlobals.
	yields bool
}

// avoid is a Replaces that acts as Conflicts, with why, for reasons.
type avoid struct {
	unit int
	why  string
}

func newPlacer(s Snapshot, static bool) *placer {
	p := &placer{mIndex: map[string]int{}, uIndex: map[string]int{}, current: s.Current, static: static}

	// Machines, sorted by ID, deduplicated.
	ms := append([]Machine(nil), s.Machines...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	for _, m := range ms {
		if _, dup := p.mIndex[m.ID]; dup || m.ID == "" {
			continue
		}
		p.mIndex[m.ID] = len(p.machines)
		p.machines = append(p.machines, m)
	}
	nm := len(p.machines)
	p.load = make([]int, nm)
	p.free = make([]unit.Resources, nm)
	for m := range p.machines {
		p.free[m] = p.machines[m].Capacity
	}
	p.members = make([][]int, nm)

	// Units, sorted by name, deduplicated (first wins).
	order := make([]int32, len(s.Units))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := strings.Compare(s.Units[a].Name, s.Units[b].Name); c != 0 {
			return c
		}
		return int(a - b) // the first of duplicates wins
	})
	p.uIndex = make(map[string]int, len(s.Units))
	pus := make([]punit, 0, len(s.Units))
	for _, k := range order {
		u := &s.Units[k]
		if _, dup := p.uIndex[u.Name]; dup {
			continue
		}
		p.uIndex[u.Name] = len(pus)
		pus = append(pus, punit{name: u.Name, fl: u.Fleet})
	}
	p.units = make([]*punit, len(pus))
	for i := range pus {
		p.units[i] = &pus[i]
	}
	metaMasks := map[string][]bool{}
	n := len(p.units)
	p.on = make([]int, n)
	for i := range p.on {
		p.on[i] = -1
	}
	p.global = make([][]int, n)
	p.reason = make([]string, n)

	names := make([]string, n) // sorted, as p.units is
	for i, u := range p.units {
		names[i] = u.name
		u.yields = u.fl.Global && len(u.fl.Conflicts) > 0
	}
	for i, u := range p.units {
		if len(u.fl.MachineMetadata) > 0 {
			// Units with the same metadata rule share one mask of machines.
			key := metadataString(u.fl.MachineMetadata)
			mask, ok := metaMasks[key]
			if !ok {
				mask = make([]bool, nm)
				for k := range p.machines {
					mask[k] = u.fl.MatchesMetadata(p.machines[k].Metadata)
				}
				metaMasks[key] = mask
			}
			u.metaOK = mask
		}
		if strings.Contains(u.name, "@.") {
			if nn, err := unit.ParseName(u.name); err == nil && nn.IsTemplate() {
				p.reason[i] = "templates are never scheduled: start an instance such as " + nn.Prefix() + "@1." + nn.Suffix()
				continue
			}
		}
		for _, t := range u.fl.MachineOf {
			j, ok := p.uIndex[t]
			if !ok {
				if u.missingOf == "" {
					u.missingOf = t
				}
				continue
			}
			if p.units[j].yields && p.reason[i] == "" {
				p.reason[i] = "MachineOf=" + t + " names a global unit with Conflicts, which is placed after the units that follow others: name a unit it runs next to instead"
			}
			u.targets = append(u.targets, j)
			p.units[j].followers = append(p.units[j].followers, i)
		}
		for _, j := range p.replaced(i) {
			switch {
			case u.fl.Global:
				// A global unit evicts nothing: it avoids the unit.
				p.avoid(i, j, "a global unit evicts nothing")
				continue
			case p.units[j].fl.Global:
				p.avoid(i, j, "it is global")
				continue
			}
			u.replaces = append(u.replaces, j)
			p.units[j].replacedBy = append(p.units[j].replacedBy, i)
		}
	}
	p.oneOfReplacesCycles()
	p.breakReplacesCycles()
	p.indexPatterns()
	p.orderUnits()
	return p
}

// replaced returns the units that unit i's Replaces name, in name order:
// a name, or a glob (path.Match) over unit names as fleet's hasReplace
// matched them. Never i itself.
func (p *placer) replaced(i int) []int {
	var out []int
	for _, r := range p.units[i].fl.Replaces {
		if !strings.ContainsAny(r, `*?[\`) {
			if j, ok := p.uIndex[r]; ok && j != i {
				out = append(out, j)
			}
			continue
		}
		for j, v := range p.units {
			if ok, _ := path.Match(r, v.name); ok && j != i {
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// oneOfReplacesCycles lets one unit of each Replaces cycle run (a Replaces
// b, b Replaces a): the units replace one another, so they are alternatives,
// as fleet's TestScheduleCircularReplace expects (one of two active on two
// machines). The one allowed to run is the first by name placed now on a
// live machine that its MachineID and metadata allow; else (or when that one
// cannot stay after all, see place) the first by name that some machine
// could take by those; else the first by name. The others are unplaceable.
// Fed back, the unit placed is chosen again, so placement stays a fixed
// point. Cycles through MachineOf are breakReplacesCycles' business.
func (p *placer) oneOfReplacesCycles() {
	n := len(p.units)
	g := &graph{names: make([]string, n), edges: make([][]int, n)}
	for i, u := range p.units {
		g.names[i] = u.name
		g.edges[i] = u.replaces
	}
	for _, scc := range g.sccs() {
		if len(scc) < 2 {
			continue
		}
		slices.Sort(scc) // unit indexes are in name order
		keep, kept := p.cycleHolder(scc)
		p.holder = append(p.holder, keep)
		p.kept = append(p.kept, kept)
		names := make([]string, len(scc))
		for k, v := range scc {
			names[k] = p.units[v].name
		}
		for _, v := range scc {
			u := p.units[v]
			u.replaces = slices.DeleteFunc(u.replaces, func(x int) bool { return slices.Contains(scc, x) })
			u.replacedBy = slices.DeleteFunc(u.replacedBy, func(x int) bool { return slices.Contains(scc, x) })
			if v != keep && p.reason[v] == "" {
				p.reason[v] = fmt.Sprintf("%s replace one another in a cycle, so only one of them runs: %s",
					strings.Join(names, ", "), p.units[keep].name)
			}
		}
	}
}

// cycleHolder picks the unit of a Replaces cycle that may run (see
// oneOfReplacesCycles), and reports whether it was for running now; scc is
// sorted.
func (p *placer) cycleHolder(scc []int) (int, bool) {
	allowed := func(u *punit, m int) bool {
		return (u.fl.MachineID == "" || p.machines[m].ID == u.fl.MachineID) && p.metaOK(u, m)
	}
	candidate := func(v int) bool { return p.reason[v] == "" && p.units[v].missingOf == "" }
	if !p.static {
		for _, v := range scc {
			if !candidate(v) {
				continue
			}
			for _, id := range p.current[p.units[v].name] {
				if m, ok := p.mIndex[id]; ok && allowed(p.units[v], m) {
					return v, true
				}
			}
		}
	}
	for _, v := range scc {
		if !candidate(v) {
			continue
		}
		for m := range p.machines {
			if allowed(p.units[v], m) {
				return v, false
			}
		}
	}
	for _, v := range scc {
		if candidate(v) {
			return v, false
		}
	}
	return scc[0], false
}

// keptHolderFailed reports whether a Replaces cycle's unit chosen for
// running now ended unplaced.
func (p *placer) keptHolderFailed() bool {
	for k, h := range p.holder {
		if p.kept[k] && p.on[h] < 0 {
			return true
		}
	}
	return false
}

// avoid makes unit i's Replaces of unit j act as Conflicts: they never share
// a machine, but i does not evict j.
func (p *placer) avoid(i, j int, why string) {
	u := p.units[i]
	u.fl.Conflicts = append(slices.Clip(u.fl.Conflicts), escapeGlob(p.units[j].name))
	u.avoids = append(u.avoids, avoid{j, why})
	p.units[j].avoidedBy = append(p.units[j].avoidedBy, i)
}

// breakReplacesCycles makes evictions follow an acyclic relation. An
// eviction of B is caused by placing a unit that replaces B, or by evicting
// a unit B follows; placing a unit is caused by its eviction (or is its first
// placement). So in the graph with an edge from A to B when A Replaces B and
// from T to F when F has MachineOf=T, a unit can be evicted again and again
// only through a cycle. Every Replaces between two units of one strongly
// connected component of that graph acts as Conflicts instead; what remains
// is acyclic (MachineOf edges alone form no cycle among units that are
// placed), so every unit is evicted a bounded number of times and placeRest
// ends on a pass that evicts nothing. This covers a Replaces cycle and a unit
// replacing a unit it follows, directly or through other followers.
func (p *placer) breakReplacesCycles() {
	n := len(p.units)
	g := &graph{names: make([]string, n), edges: make([][]int, n)}
	for i, u := range p.units {
		g.names[i] = u.name
		if len(u.replaces) > 0 && len(u.followers) > 0 {
			g.edges[i] = append(slices.Clip(u.replaces), u.followers...)
		} else if len(u.replaces) > 0 {
			g.edges[i] = u.replaces
		} else {
			g.edges[i] = u.followers
		}
	}
	comp := make([]int, n)
	for c, scc := range g.sccs() {
		for _, v := range scc {
			comp[v] = c
		}
	}
	for i, u := range p.units {
		var keep []int
		for _, r := range u.replaces {
			if comp[r] != comp[i] {
				keep = append(keep, r)
				continue
			}
			p.units[r].replacedBy = slices.DeleteFunc(p.units[r].replacedBy, func(x int) bool { return x == i })
			why := "Replaces and MachineOf form a cycle through both"
			if slices.Contains(u.targets, r) {
				why = "it follows it"
			} else if p.follows(i, r) {
				why = "evicting it would evict a unit it follows"
			}
			p.avoid(i, r, why)
		}
		u.replaces = keep
	}
}

// follows reports whether unit i follows unit r, directly or through other
// followers, so that evicting r would evict i.
func (p *placer) follows(i, r int) bool {
	seen := map[int]bool{r: true}
	stack := []int{r}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, f := range p.units[v].followers {
			if f == i {
				return true
			}
			if !seen[f] {
				seen[f] = true
				stack = append(stack, f)
			}
		}
	}
	return false
}

// escapeGlob quotes the metacharacters of a literal name for path.Match.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// indexPatterns interns the Conflicts patterns and finds, once per pattern,
// the units it matches. Names are sorted, so a pattern's literal prefix
// narrows the candidates to a range found by binary search.
func (p *placer) indexPatterns() {
	ids := map[string]int{}
	for _, u := range p.units {
		if p.reasonOf(u) != "" {
			continue
		}
		for _, pat := range u.fl.Conflicts {
			id, ok := ids[pat]
			if !ok {
				id = len(p.patterns)
				ids[pat] = id
				p.patterns = append(p.patterns, pat)
			}
			u.pats = append(u.pats, id)
		}
	}
	if len(p.patterns) == 0 {
		return
	}
	names := make([]string, len(p.units)) // sorted, as p.units is
	for i, u := range p.units {
		names[i] = u.name
	}
	nm := len(p.machines)
	p.matchOn = make([][]int32, len(p.patterns))
	p.ownOn = make([][]int32, len(p.patterns))
	for id, pat := range p.patterns {
		p.matchOn[id] = make([]int32, nm)
		p.ownOn[id] = make([]int32, nm)
		lit := pat
		if k := strings.IndexAny(pat, `*?[\`); k >= 0 {
			lit = pat[:k]
		}
		for j := sort.SearchStrings(names, lit); j < len(names) && strings.HasPrefix(names[j], lit); j++ {
			if ok, _ := path.Match(pat, names[j]); ok {
				p.units[j].matchedBy = append(p.units[j].matchedBy, id)
			}
		}
	}
}

func (p *placer) reasonOf(u *punit) string { return p.reason[p.uIndex[u.name]] }

// orderUnits orders the normal units targets-first and marks MachineOf
// cycles unplaceable.
func (p *placer) orderUnits() {
	g := &graph{names: make([]string, len(p.units)), edges: make([][]int, len(p.units))}
	for i, u := range p.units {
		g.names[i] = u.name
		g.edges[i] = u.targets
	}
	for _, scc := range g.sccs() {
		if g.isCycle(scc) {
			names := make([]string, len(scc))
			for i, v := range scc {
				names[i] = p.units[v].name
			}
			sort.Strings(names)
			for _, v := range scc {
				if p.reason[v] == "" {
					p.reason[v] = "MachineOf cycle among " + strings.Join(names, ", ")
				}
			}
			continue
		}
		v := scc[0]
		if !p.units[v].fl.Global && p.reason[v] == "" {
			p.order = append(p.order, v)
		}
	}
}

// placeGlobals puts every global unit on each machine matching its metadata.
func (p *placer) placeGlobals() {
	for i, u := range p.units {
		if !u.fl.Global || u.yields || p.reason[i] != "" {
			continue
		}
		eligible := 0
		for m := range p.machines {
			if p.metaOK(u, m) && p.mayPlace(u, m) {
				eligible++
				if !p.fits(u, m) {
					continue
				}
				p.global[i] = append(p.global[i], m)
				p.add(i, m)
			}
		}
		switch {
		case len(p.global[i]) > 0:
		case eligible > 0:
			p.reason[i] = p.roomReason(u, p.eligibleMachines(u))
		default:
			p.reason[i] = p.noMachineReason(u)
		}
	}
}

// placeConflictingGlobals puts every global unit with Conflicts of its own
// on each machine matching its metadata where it conflicts with no unit
// placed there, in name order, after every normal unit: as fleet's agent
// (PR #1571) runs a global unit only where no unit it conflicts with runs,
// normal units keep their machines and the global unit yields. It depends
// on nothing but the normal placements, so the result stays a fixed point.
func (p *placer) placeConflictingGlobals() {
	for i, u := range p.units {
		if !u.yields || p.reason[i] != "" {
			continue
		}
		eligible, first := 0, -1
		var noRoom []int
		for m := range p.machines {
			if !p.metaOK(u, m) || !p.mayPlace(u, m) {
				continue
			}
			eligible++
			if first < 0 {
				first = m
			}
			if p.conflicts(u, m) {
				continue
			}
			if !p.fits(u, m) {
				noRoom = append(noRoom, m)
				continue
			}
			p.global[i] = append(p.global[i], m)
			p.add(i, m)
		}
		switch {
		case len(p.global[i]) > 0:
		case len(noRoom) > 0:
			p.reason[i] = p.roomReason(u, noRoom)
		case eligible > 0:
			p.reason[i] = p.conflictReason(u, eligible, first)
		default:
			p.reason[i] = p.noMachineReason(u)
		}
	}
}

// keepCurrent keeps every unit on a current machine where all rules hold,
// in order, so that of two units now conflicting the first keeps its place
// (unless the second replaces it).
func (p *placer) keepCurrent() {
	for _, i := range p.order {
		u := p.units[i]
		ids := p.current[u.name]
		if len(ids) == 0 || u.missingOf != "" {
			continue
		}
		ms := make([]int, 0, len(ids))
		for _, id := range ids {
			if m, ok := p.mIndex[id]; ok {
				ms = append(ms, m)
			}
		}
		sort.Ints(ms) // machine indexes are in ID order
		for _, m := range ms {
			if (u.fl.MachineID == "" || unit.MatchesMachineID(p.machines[m].ID, u.fl.MachineID)) &&
				p.metaOK(u, m) && p.targetsOn(u, m) && !p.conflicts(u, m) && p.fitsAfterEvicting(u, m) {
				p.evictReplaced(i, m)
				p.add(i, m)
				break
			}
		}
	}
}

// placeRest places, in order, the units not kept, in passes. Placing a unit
// may evict units it replaces; the next pass then places those again and
// retries every unit still unplaced, since an eviction may have freed the
// machine it needed. Passes end when one evicts nothing, and placeRest
// reports whether they did: evictions following an acyclic relation (see
// breakReplacesCycles), they do, and a bound makes sure of it.
//
// The result is then a fixed point: fed back as Current, every placement is
// kept (it breaks no rule) and every unplaced unit fails again, since it
// failed in the last pass against the same placements with the same
// evictions allowed (which evictions a unit may make depends only on the
// units and where they are, never on Current or on what was evicted).
func (p *placer) placeRest() bool {
	for pass := 0; pass <= len(p.order); pass++ {
		p.anyEvicted = false
		for _, i := range p.order {
			if p.on[i] < 0 {
				p.reason[i] = ""
				p.placeOne(i)
			}
		}
		if !p.anyEvicted {
			return true
		}
	}
	return false
}

func (p *placer) placeOne(i int) {
	u := p.units[i]
	fail := func(format string, args ...any) { p.reason[i] = fmt.Sprintf(format, args...) }
	if len(p.machines) == 0 {
		fail("no machines in the cluster")
		return
	}
	if u.missingOf != "" {
		fail("MachineOf=%s is not placed: no such unit is loaded or launched", u.missingOf)
		return
	}
	for _, t := range u.targets {
		if p.placed(t) {
			continue
		}
		if r := p.reason[t]; r != "" {
			fail("MachineOf=%s is not placed (%s)", p.units[t].name, r)
		} else {
			fail("MachineOf=%s is not placed", p.units[t].name)
		}
		return
	}

	// Candidate machines: nil means all of them.
	var cands []int
	switch {
	case u.fl.MachineID != "":
		cands = p.machinesWithID(u.fl.MachineID)
		if len(cands) == 0 {
			fail("MachineID=%s is not a machine of the cluster", u.fl.MachineID)
			return
		}
		k := 0
		for _, m := range cands {
			if p.targetsOn(u, m) {
				cands[k] = m
				k++
			}
		}
		if k == 0 { // unit.ParseFleet refuses MachineID with MachineOf
			fail("MachineOf=%s is not on its MachineID=%s", strings.Join(u.fl.MachineOf, " "), u.fl.MachineID)
			return
		}
		cands = cands[:k]
	case len(u.targets) > 0:
		cands = p.machinesOf(u.targets[0])
		k := 0
		for _, m := range cands {
			if p.targetsOn(u, m) {
				cands[k] = m
				k++
			}
		}
		cands = cands[:k]
		if len(cands) == 0 {
			fail("MachineOf=%s: the units it names are on different machines", strings.Join(u.fl.MachineOf, " "))
			return
		}
	}

	best, bestEvict, eligible, firstEligible := -1, -1, 0, -1
	var cordoned []string
	var noRoom []int
	reserves := !u.fl.Reserve.IsZero()
	try := func(m int) {
		if !p.metaOK(u, m) {
			return
		}
		if !p.mayPlace(u, m) {
			cordoned = append(cordoned, p.machines[m].ID)
			return
		}
		eligible++
		if firstEligible < 0 {
			firstEligible = m
		}
		if p.conflicts(u, m) {
			return
		}
		if p.mustEvict(u, m) {
			if !p.fitsAfterEvicting(u, m) {
				noRoom = append(noRoom, m)
				return
			}
			if bestEvict < 0 || p.better(u, m, bestEvict) {
				bestEvict = m
			}
			return
		}
		if reserves && !p.fits(u, m) {
			noRoom = append(noRoom, m)
			return
		}
		if best < 0 || p.better(u, m, best) {
			best = m
		}
	}
	if cands == nil {
		for m := range p.machines {
			try(m)
		}
	} else {
		for _, m := range cands {
			try(m)
		}
	}
	if best < 0 && bestEvict >= 0 {
		p.evictReplaced(i, bestEvict)
		best = bestEvict
	}
	if best >= 0 {
		p.add(i, best)
		return
	}

	switch {
	case len(noRoom) > 0:
		fail("%s", p.roomReason(u, noRoom))
	case eligible > 0:
		fail("%s", p.conflictReason(u, eligible, firstEligible))
	case len(cordoned) > 0:
		fail("the machines it may run on are cordoned (%s): fleetctl uncordon MACHINE", strings.Join(cordoned, " "))
	case u.fl.MachineID != "":
		fail("machine %s (MachineID) does not have metadata %s", u.fl.MachineID, metadataString(u.fl.MachineMetadata))
	case len(u.targets) > 0:
		fail("no machine running MachineOf=%s has metadata %s", strings.Join(u.fl.MachineOf, " "), metadataString(u.fl.MachineMetadata))
	default:
		fail("%s", p.noMachineReason(u))
	}
}

// mayPlace reports whether u may be on m as far as cordons go: m is not
// cordoned, or u is placed there now.
func (p *placer) mayPlace(u *punit, m int) bool {
	return !p.machines[m].Cordoned || slices.Contains(p.current[u.name], p.machines[m].ID)
}

// machinesWithID returns the machines a MachineID= value names, in ID
// order: the one with that full ID or, as fleet's MatchID allows, those
// whose short ID (first 8 characters) it is.
func (p *placer) machinesWithID(id string) []int {
	if m, ok := p.mIndex[id]; ok {
		return []int{m}
	}
	var ms []int
	for m := range p.machines {
		if unit.MatchesMachineID(p.machines[m].ID, id) {
			ms = append(ms, m)
		}
	}
	return ms
}

// machinesOf returns the machines unit t is placed on, in ID order.
func (p *placer) machinesOf(t int) []int {
	if p.units[t].fl.Global {
		return append([]int(nil), p.global[t]...)
	}
	return []int{p.on[t]}
}

// evictReplaced evicts from m the units that unit i replaces.
func (p *placer) evictReplaced(i, m int) {
	for _, r := range p.units[i].replaces {
		if p.on[r] == m {
			p.evict(r, fmt.Sprintf("replaced on %s by %s, and no other machine is eligible", p.machines[m].ID, p.units[i].name))
		}
	}
}

// conflictReason explains why u fits none of its eligible machines, naming
// one unit in the way on the first of them.
func (p *placer) conflictReason(u *punit, eligible, m int) string {
	why := "a unit it conflicts with"
	for _, v := range p.members[m] {
		w := p.units[v]
		switch {
		case contains(u.replacedBy, v) || contains(u.avoidedBy, v):
			why = w.name + ", which replaces it"
		case slices.ContainsFunc(u.avoids, func(a avoid) bool { return a.unit == v }):
			k := slices.IndexFunc(u.avoids, func(a avoid) bool { return a.unit == v })
			why = w.name + ", which it replaces but cannot evict: " + u.avoids[k].why
		case u.fl.ConflictsWith(w.name) || w.fl.ConflictsWith(u.name):
			why = w.name + ", which it conflicts with"
		default:
			continue
		}
		break
	}
	if eligible == 1 {
		return fmt.Sprintf("the only eligible machine, %s, runs %s", p.machines[m].ID, why)
	}
	return fmt.Sprintf("all %d eligible machines run units it conflicts with (e.g. %s runs %s)", eligible, p.machines[m].ID, why)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (p *placer) metaOK(u *punit, m int) bool {
	return u.metaOK == nil || u.metaOK[m]
}

// add records unit i on machine m (for a global unit, one of its machines).
func (p *placer) add(i, m int) {
	u := p.units[i]
	if !u.fl.Global {
		p.on[i] = m
	}
	p.load[m]++
	p.free[m].Memory -= u.fl.Reserve.Memory
	p.free[m].MilliCPU -= u.fl.Reserve.MilliCPU
	p.members[m] = append(p.members[m], i)
	for _, id := range u.pats {
		p.ownOn[id][m]++
	}
	for _, id := range u.matchedBy {
		p.matchOn[id][m]++
	}
}

// remove undoes add for a normal unit.
func (p *placer) remove(i int) {
	m := p.on[i]
	u := p.units[i]
	p.on[i] = -1
	p.load[m]--
	p.free[m].Memory += u.fl.Reserve.Memory
	p.free[m].MilliCPU += u.fl.Reserve.MilliCPU
	ms := p.members[m]
	for k, v := range ms {
		if v == i {
			p.members[m] = append(ms[:k:k], ms[k+1:]...)
			break
		}
	}
	for _, id := range u.pats {
		p.ownOn[id][m]--
	}
	for _, id := range u.matchedBy {
		p.matchOn[id][m]--
	}
}

// evict removes unit i from its machine, with the units following it there,
// and marks them to be placed again.
// evict unplaces unit i (and its followers on the same machine), giving why
// as its reason until a later pass places it again.
func (p *placer) evict(i int, why string) {
	m := p.on[i]
	if m < 0 {
		return
	}
	p.remove(i)
	p.reason[i] = why
	p.anyEvicted = true
	for _, f := range p.units[i].followers {
		if p.on[f] == m {
			p.evict(f, fmt.Sprintf("MachineOf=%s, which was %s", p.units[i].name, why))
		}
	}
}

// conflicts reports whether unit u may not share machine m with the units
// there under Conflicts, or because one of them replaces u.
func (p *placer) conflicts(u *punit, m int) bool {
	for _, id := range u.pats {
		if p.matchOn[id][m] > 0 {
			return true
		}
	}
	for _, id := range u.matchedBy {
		if p.ownOn[id][m] > 0 {
			return true
		}
	}
	for _, r := range u.replacedBy {
		if p.on[r] == m {
			return true
		}
	}
	return false
}

// mustEvict reports whether placing u on m means evicting units it replaces.
// Evicting them never evicts a unit u follows: that would be a cycle, and
// breakReplacesCycles made such Replaces act as Conflicts.
func (p *placer) mustEvict(u *punit, m int) bool {
	for _, r := range u.replaces {
		if p.on[r] == m {
			return true
		}
	}
	return false
}

// targetsOn reports whether every MachineOf target of u is placed on m.
func (p *placer) targetsOn(u *punit, m int) bool {
	for _, t := range u.targets {
		if !p.placedOn(t, m) {
			return false
		}
	}
	return true
}

func (p *placer) placedOn(t, m int) bool {
	if !p.units[t].fl.Global {
		return p.on[t] == m
	}
	for _, g := range p.global[t] {
		if g == m {
			return true
		}
	}
	return false
}

func (p *placer) placed(t int) bool { return p.on[t] >= 0 || len(p.global[t]) > 0 }

func (p *placer) result() Result {
	r := Result{Placements: make(map[string][]string, len(p.units)), Unplaceable: map[string]string{}}
	for i, u := range p.units {
		switch {
		case p.on[i] >= 0:
			r.Placements[u.name] = []string{p.machines[p.on[i]].ID}
		case len(p.global[i]) > 0:
			ids := make([]string, len(p.global[i]))
			for k, m := range p.global[i] {
				ids[k] = p.machines[m].ID
			}
			r.Placements[u.name] = ids // machine order is ID order
		default:
			reason := p.reason[i]
			if reason == "" {
				reason = "not placed" // should not happen
			}
			r.Unplaceable[u.name] = reason
		}
	}
	return r
}

func (p *placer) noMachineReason(u *punit) string {
	if len(p.machines) == 0 {
		return "no machines in the cluster"
	}
	return "no machine has metadata " + metadataString(u.fl.MachineMetadata)
}

func metadataString(md map[string][]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		sep := "="
		if vs := md[k]; len(vs) > 0 && vs[0] != "" && strings.ContainsAny(vs[0][:1], "<>!=") {
			sep = "" // a comparison (ram>=1024) carries its operator
		}
		parts[i] = k + sep + strings.Join(md[k], "|")
	}
	return strings.Join(parts, ", ")
}
