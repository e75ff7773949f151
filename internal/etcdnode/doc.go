// Package etcdnode gives fleetd its etcd: either an embedded member
// (go.etcd.io/etcd/server/v3/embed) that joins or forms the cluster named by
// the initial-cluster list, or a plain client of existing members. Both ways
// it hands back a *clientv3.Client; everything above it sees only that.
//
// It owns the etcd data directory, the TLS wiring of peer and client
// traffic, and the member's raft timings (Config.ElectionTimeout). A
// member also reports when raft's previous leader is found dead at an
// election (OnLeaderDeath: its peer port refuses connections), by member
// name. It must not know about units, machines or the registry layout.
package etcdnode
