// Package clustertest runs real fleetd processes on loopback (or in network
// namespaces a test creates) for integration tests and benchmarks: it builds
// the binaries, starts members and client-only nodes with free ports, kills
// them with SIGKILL, runs the fleetctl binary, and waits on the API. Every
// cluster speaks mutual TLS (etcd and the TCP API), as fleetd requires.
//
// It is test infrastructure: nothing in a shipped binary imports it.
package clustertest
