// Package registry is the cluster's shared state in etcd v3: the key layout
// and every read and write of it, behind one type (*Registry) over a
// *clientv3.Client. It is the only package that uses etcd's KV, Lease,
// Watch and concurrency APIs (etcdnode starts etcd, tests read it raw): the
// engine, the agents, the API, fleetd and rebootlock go through its
// methods, and none of them builds an etcd key.
//
// Layout, under Prefix:
//
//	units/<name>               UnitRecord (options + hash)          no lease
//	desired/<name>             "inactive" | "loaded" | "launched"   no lease
//	machines/<id>              MachineRecord (with its Capacity)    machine's lease
//	placement/<machine>/<unit> Placement (target, hash, options)    no lease; engine-written
//	unplaced/<unit>            reason the engine could not place it  no lease; engine-written
//	state/<machine>/<unit>     StateRecord                          machine's lease
//	endpoints/<machine>/<unit> Endpoint (addresses, ports, health)  machine's lease; while the unit is active
//	engine/                    leader election (Campaign, a Term)   the term's session lease
//	drain/<machine>            "draining": place nothing there      reboot lock's lease, or none
//	cordon/<machine>           CordonRecord (drain: move units too)  no lease: survives the machine's restarts
//	moves/<unit>               MoveRecord: move it off From (to To)  no lease; the engine deletes it when done
//	update/<machine>           the updater's state string           no lease
//	metadata/<machine>/<key>   metadata set over the API (PATCH)    no lease; overrides the machine's own
//	reboot/max                 reboot lock size (decimal; absent=1) no lease
//	reboot/holders/<machine>   RebootHolder (JSON)                  the holder's own lease
//	fenced/<machine>           its name: died with the raft leader,  a lease of its own
//	                           its units may still run (hold)
//	network/config             NetworkConfig (cluster CIDR, backend) no lease; first fleetd writes it
//	subnets/<ip>-<len>         SubnetRecord (machine, address, VTEP) machine's subnet lease (hours)
//	revisions/<unit>/<hash>    Revision (time, options, failed): the  no lease; written on submit
//	                           last KeepRevisions files of a unit     (PutUnit, StartRollout)
//	rollouts/<name>            rollout.Rollout: target revisions,     no lease; API starts and
//	                           items pending/released/done/failed     steers, engine advances
//
// and "health" (outside Prefix, never written), read by Health to prove a
// linearizable read works.
//
// Methods by group:
//
//	units        PutUnit, SetDesired, DestroyUnit, Unit
//	machines     RegisterMachine, RevokeMachine, Machines, EtcdRoles, (Set)UpdateStatus,
//	             SetMachineMetadata, DeleteMachineMetadata
//	placements   Placements, WatchPlacements, Apply (engine writes, under a Guard)
//	states       WriteStates, States, ReadStateView
//	endpoints    WriteEndpoints, Endpoints, WatchEndpoints (DNS's view)
//	engine       Snapshot, WatchEngine, Campaign → Term (Guard, Done, Resign, Close),
//	             FenceDeadMachine, Fenced
//	leases       Grant, RenewOnce, Revoke
//	cordons      Cordon, Uncordon, Cordons, MachineStates, DrainLeft, WatchStates
//	moves        RequestMove, Moves (the engine clears them: ClearMove)
//	reboot lock  ReadRebootLock, SetRebootMax, TakeRebootSlot, RebootSlot, (Set/Clear)Draining
//	health       Health
//	network      EnsureNetworkConfig, Subnets, ClaimSubnet, ReleaseSubnet, WatchSubnets
//	revisions    Revisions, FindRevision, MarkRevisionFailed
//	rollouts     StartRollout, Rollouts, Rollout, UpdateRollout, AdvanceRollout (guarded),
//	             UnitModRevisions
//
// Errors callers test with errors.Is: ErrUnitExists, ErrUnitNotFound,
// ErrNotLeader, ErrLeaseNotFound, ErrWatchClosed, ErrSubnetTaken,
// ErrRolloutActive, ErrConflict.
//
// RenewOnce is a single renewal, not a keepalive loop: the agent's fencing
// depends on when each renewal was sent, so the timing stays in the agent.
// Placements are keyed by machine so an agent watches exactly its own
// prefix, and carry the unit's options so it needs nothing else to run it.
// It owns no policy: who may write what is decided by its callers.
package registry
