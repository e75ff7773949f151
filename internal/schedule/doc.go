// Package schedule decides where units run: a pure function from a cluster
// snapshot (alive machines, units that should run, where they run now) to
// placements, with fleet's [X-Fleet] semantics. It does no I/O, reads no
// clock and keeps no state between calls; the engine builds the Snapshot from
// the registry and writes the Result back.
//
// Rules, in the order they are applied to each unit:
//
//   - Stability: a unit stays on its current machine while that machine is
//     alive and every rule below still holds there; running units are never
//     moved to rebalance.
//   - Global units run on every machine matching their MachineMetadata. A
//     global unit with Conflicts of its own (fleet >= 1.0) is placed after
//     every normal unit, on each such machine where it conflicts with no
//     unit placed there: it yields, as fleet's agent skips those machines
//     (two such global units conflicting: the first by name wins a
//     machine). A unit cannot follow it with MachineOf.
//   - MachineID: only that machine; the value may be the full ID or, as in
//     fleet, its first 8 characters (of several machines sharing them, the
//     least loaded).
//   - MachineOf: only a machine where every named unit is placed (for a
//     global target, any machine running it). Targets are placed before their
//     followers; a unit that is not placed leaves its followers unplaceable, and
//     the members of a MachineOf cycle are all unplaceable (MachineOfCycle lets
//     the API refuse such a submit).
//   - MachineMetadata: for every key, the machine has one of the listed values.
//   - Conflicts: globs (path.Match) over unit names, symmetric: two units share
//     no machine if either's patterns match the other's name. Global units
//     count as residents of their machines here: a unit whose Conflicts match a
//     global unit avoids the machines running it.
//   - Replaces: a name, or a glob over unit names (path.Match, as fleet's
//     hasReplace). A Replaces B means they never share a machine; if A can only
//     go where B is (every other eligible machine is ruled out), A takes the
//     machine and B, with the units that follow it there, is placed again
//     elsewhere or becomes unplaceable; units that failed are retried after
//     an eviction. If A and B already share a machine, A keeps it. Evictions
//     cascade (B, placed again, may evict a unit it replaces) but never go
//     round. Units that replace one another in a cycle of Replaces alone (A
//     Replaces B, B Replaces A) are alternatives: one of them runs, cluster
//     wide, as fleet's TestScheduleCircularReplace expects — the one running
//     now if it may stay, else the first by name that some machine's ID and
//     metadata allow — and the others are unplaceable. For the rest, take
//     the graph with an edge A→B when A Replaces B and T→F when F has
//     MachineOf=T (evicting T evicts F). A Replaces B acts as Conflicts
//     (they never share a machine, neither evicts the other) when B leads
//     back to A in that graph — a unit replacing one it follows, or a chain
//     such as C Replaces A, A Replaces W, B MachineOf=W, B Replaces C — and
//     when A or B is global. The rule depends only on the units, not on
//     where they run, so whichever unit of such a cycle holds the machine
//     keeps it (the first handled, when none does).
//   - Resources: a unit's Fleet.Reserve (memory, CPU) must fit in what the
//     machine's Capacity leaves once every unit placed there has taken its
//     own; a machine reporting no capacity of a resource takes no
//     reservation of it. Nothing is ever overcommitted: a unit that fits
//     nowhere stays unplaced with a reason saying what is missing ("no
//     machine has 2 GiB memory free; largest free 1.2 GiB on m2"). Global
//     units reserve on each of their machines and skip those without room
//     (they are placed first, so they take room before normal units; a unit
//     replacing another counts the room it frees). Units reserving nothing
//     ignore capacity, as before.
//   - Otherwise, for a unit with a reservation, the eligible machine with the
//     most room (free memory when it reserves memory, then free CPU); for
//     any unit then, the least-loaded one (fewest units, global ones
//     included, counting this round's placements), ties broken by machine ID.
//
// Units are handled in name order, MachineOf targets first, so the result is a
// deterministic function of the snapshot. It is also a fixed point: with its
// placements as Current, Place returns the same placements. Evictions
// following an acyclic relation, placement always ends on a pass that evicts
// nothing; the units still unplaced then cannot be placed even by evicting,
// and which evictions are allowed does not depend on Current or on what was
// evicted before, so fed back they fail again. Cost is O(units × machines) plus, for
// units with Conflicts, O(patterns × matching units) once; units without
// Conflicts or Replaces skip those checks entirely.
package schedule
