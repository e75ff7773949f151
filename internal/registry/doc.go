// Package registry is the cluster's shared state in etcd v3: the key layout
// and every read and write of it, behind one type (*Registry) over a
// *clientv3.Client. The engine, the agents and the API go through it; none of
// them builds an etcd key.
//
// Layout, under Prefix:
//
//	units/<name>               UnitRecord (options + hash)          no lease
//	desired/<name>             "inactive" | "loaded" | "launched"   no lease
//	machines/<id>              MachineRecord                        machine's lease
//	placement/<machine>/<unit> Placement (target, hash, options)    no lease; engine-written
//	unplaced/<unit>            reason the engine could not place it  no lease; engine-written
//	state/<machine>/<unit>     StateRecord                          machine's lease
//	engine/                    leader election (concurrency.Election)
//	drain/<machine>            "draining": place nothing there      reboot lock's lease, or none
//	update/<machine>           the updater's state string           no lease
//	reboot/max                 reboot lock size (decimal; absent=1) no lease
//	reboot/holders/<machine>   RebootHolder (JSON)                  the holder's own lease
//
// Placements are keyed by machine so an agent watches exactly its own prefix,
// and carry the unit's options so it needs nothing else to run it. It owns no
// policy: who may write what is decided by its callers.
package registry
