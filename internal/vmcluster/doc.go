// Package vmcluster boots what image-build wrote: one node from DIR/disk.img
// or an N-node cluster from DIR/node-K/disk.img on a bridge inside a network
// namespace, each VM with its API forwarded to a host loopback port. The
// qemu-test tests, the boot benchmarks and scripts/cluster.sh all use it.
package vmcluster
