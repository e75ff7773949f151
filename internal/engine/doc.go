// Package engine is fleet's engine: on the one machine that wins the etcd
// election (registry.Campaign), it turns the registry into placements.
//
// It reacts to watch events on units, desired states and machines (a machine
// whose lease expires vanishes from machines/, which is itself the event that
// reschedules its units), reads a snapshot, asks the pure function
// schedule.Place where everything goes, and writes the difference in batched
// transactions guarded by its leadership key, so a deposed leader cannot write.
//
// When more machines that hold units vanish than remain registered, it
// writes nothing until they are back or one TTL has passed (holdMassLoss):
// a resumed stale etcd raft leader can revoke live machines' leases, and
// their agents register again within a Retry.
//
// When etcd's raft leader dies with its machine, the new raft leader
// extends every lease by an election timeout plus a full TTL. Every
// fleetd learns of the death at the election (etcdnode.OnLeaderDeath),
// revokes that machine's lease at once and marks it fenced, and the
// engine moves its units ttl.DeadLeaderHold after the revoke, when they
// are known dead (MachineDied, holdFenced).
//
// It does not run units (the agent does) nor validate user input (the API does).
package engine
