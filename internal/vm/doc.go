// Package vm boots Flotilla images under QEMU for tests and for the local
// cluster script: through OVMF and systemd-boot (the real path) or straight
// into the kernel with -kernel/-initrd (the fast path). It uses KVM when
// /dev/kvm exists and a probe shows QEMU can use it, and TCG otherwise; it
// logs the exact QEMU command line (Options.Logf), keeps each serial log,
// and waits on console markers (WaitFor) or for the guest to power off (Run).
//
// It is the one runner for every test that boots: the only package that
// starts qemu-system-x86_64, probes KVM or reads FLOTILLA_QEMU_ACCEL (force
// kvm or tcg) and FLOTILLA_VM_LOGS (LogDir: keep a test's serial logs).
// Others build Options and call it; they must not assemble QEMU command
// lines of their own.
//
// Networks are QEMU user networking (with host port forwards to loopback) and
// taps on a bridge inside a network namespace that the caller creates
// (Bridge): the tap is opened inside the namespace and its descriptor handed
// to QEMU, so QEMU itself stays in the host namespace and its port forwards
// listen on the host's loopback.
package vm
