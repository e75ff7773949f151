// Package qemutest boots Flotilla images under QEMU and drives them the way a
// user would: fleetctl on the host through a port forward, container units,
// a three-node cluster on a bridge inside a network namespace the test
// creates, and SIGKILL of a VM. The tests are slow (TCG, no KVM here) and
// gated by FLOTILLA_SLOW=1; the three-node test also needs root.
package qemutest
