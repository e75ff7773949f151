// Package etcdclient dials etcd as a client: the TLS files of the node and
// the client options. fleetd (through etcdnode) and the updater (through
// rebootlock) both dial here, so a client-only program such as the updater
// does not link etcd's server.
//
// It owns no keys (internal/registry does) and must not import etcd's
// server packages.
package etcdclient
