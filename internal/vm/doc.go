// Package vm boots Flotilla images under QEMU for tests and for the local
// cluster script: through OVMF and systemd-boot (the real path) or straight
// into the kernel with -kernel/-initrd (the fast path). It uses KVM when
// /dev/kvm exists and TCG otherwise, logs the exact QEMU command line, keeps
// each serial log, and waits on console markers.
//
// Networks are QEMU user networking (with host port forwards to loopback) and
// taps on a bridge inside a network namespace that the caller creates
// (Bridge): the tap is opened inside the namespace and its descriptor handed
// to QEMU, so QEMU itself stays in the host namespace and its port forwards
// listen on the host's loopback.
package vm
