// Package ttl derives every fencing and lease timing from fleetd's machine
// lease TTL (--ttl), in one type, Timing, so that the processes which must
// agree on them (the agent and engine in fleetd, the unit manager init
// hosts) cannot drift apart.
//
// The timeline of one machine lease, from a renewal sent at 0:
//
//	0            renewal sent; the lease lives until at least TTL
//	Renew        the next renewal goes out (they overlap, none waits)
//	Fence        no renewal answered since 0: the agent kills every unit,
//	             and so does a unit manager with no live fleetd since 0
//	KillDeadline the units must be dead
//	TTL          the lease can expire; the engine moves the units
//
// The election session is shorter (Election): see internal/engine.
//
// It is a leaf: it imports nothing of Flotilla's, and owns no timers.
package ttl
