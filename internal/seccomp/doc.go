// Package seccomp owns containers' seccomp profiles: Docker's default
// profile (moby/profiles' DefaultProfile, the source of truth: nothing here
// lists syscalls), profiles in Docker's JSON format named by Quadlet's
// SeccompProfile=, and their compilation to a classic BPF program for
// seccomp(2).
//
// A profile is expanded per container as Docker expands it: rules
// conditional on capabilities follow the container's capability set (mount,
// unshare, setns and namespace flags of clone are allowed only with
// CAP_SYS_ADMIN, and so on), on the architecture and on the host's kernel.
// The expanded rules then compile as runc compiles them with libseccomp:
//
//   - one section per architecture the profile names that can run here
//     (on amd64: x86_64, x32 by its syscall-number bit, and i386), with the
//     syscall tables of elastic/go-seccomp-bpf's arch package; names a
//     table lacks are skipped; an unknown architecture kills the thread
//     (libseccomp's default);
//   - rules whose action is the default action are dropped; several
//     conditions on one argument are alternatives (OR), conditions on
//     different arguments all must hold (AND); for one syscall, conditional
//     rules are tried in profile order before its unconditional rule;
//   - runc's -ENOSYS stub: a syscall numbered above every syscall the
//     profile names fails with ENOSYS, not the default errno, so that
//     programs fall back from syscalls newer than the profile.
//   - syscall numbers are found by binary search over intervals that share
//     a decision (libseccomp's tree, which runc enables), so the kernel's
//     per-syscall action cache, built by emulating the filter for every
//     number at install, stays cheap (Docker's default: ~760 instructions,
//     installed in ~0.3-0.6 ms here).
//
// go-seccomp-bpf's own assembler is not used: with argument conditions it
// compares later syscall numbers against the loaded argument (socket(40)
// on x86_64 matched sendfile's rule), and it has one architecture only.
//
// Filters are compiled in fleetd when a container is prepared, cached per
// profile and capability set, and handed to the container's init as bytes
// (sandbox.Spec.Seccomp), which installs them after no_new_privs, right
// before exec. The init binary must not import this package: the syscall
// tables cost ~0.3 ms of package initialisation per start.
//
// Systemd maps a profile to the settings systemd's own filter takes, for
// the systemd backend, where it can.
package seccomp
