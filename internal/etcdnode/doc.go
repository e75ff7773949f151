// Package etcdnode gives fleetd its etcd: either an embedded member
// (go.etcd.io/etcd/server/v3/embed) that joins or forms the cluster named by
// the initial-cluster list, or a plain client of existing members. Both ways
// it hands back a *clientv3.Client; everything above it sees only that.
//
// It owns the etcd data directory and the TLS wiring of peer and client
// traffic. It must not know about units, machines or the registry layout.
package etcdnode
