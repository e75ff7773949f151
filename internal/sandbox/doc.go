// Package sandbox turns a prepared root directory into a container process:
// new mount, pid, uts, ipc (and net, and optionally user) namespaces, a
// minimal /dev, /proc and /sys, bind-mounted volumes, pivot_root, a hostname,
// a reduced capability set, no_new_privs and the unit's credentials; then it
// execs the entrypoint, which becomes PID 1 of the container. No helper
// process remains.
//
// How it runs: the caller (the unit supervisor) forks /proc/self/exe with
// argv[0] = InitArg and the namespaces of Launch.Sys. The child is the same
// binary; its main must call InitIfRequested first, which runs the container
// setup and never returns. The protocol over two pipes:
//
//	l, err := sandbox.Prepare(spec)          // validate, encode
//	files := append([]uintptr{stdin, stdout, stderr}, fds(l.Files)...) // fds 3, 4
//	pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Files: files, Sys: l.Sys})
//	err = l.Started(pid)                     // close the child's ends, send the spec
//	// put pid in its cgroup, attach the veth ...
//	err = l.Release()                        // child sets up and execs; its setup error, if any
//
// fd 3 carries the spec (4-byte big-endian length, JSON) and then one
// go-ahead byte; fd 4 is the error pipe: the child marks it close-on-exec, so
// a successful exec closes it with nothing written, and a failed step writes
// "step: error" and exits 1. If the child dies from a signal during setup,
// Release returns nil and the caller sees the death through wait4, like any
// other exit.
//
// User namespaces: with Spec.UserNS, container ids 0..65535 map to host ids
// 100000..165535 (HostIDBase, IDRange). The rootfs must be readable (and its
// path searchable) by host uid 100000; files owned by host ids outside the
// range show up as the overflow id 65534 inside.
//
// Exec in a running container (exec_linux.go): PrepareExec returns a
// Launch for the helper ExecArg, forked and released with the same
// protocol; the caller puts it in the container's cgroup between Started
// and Release. It joins the container init's namespaces, confines itself
// as the init was and forks the command there; its exit status is the
// command's. Health checks (HealthCmd=) run this way.
//
// What it owns: the child's mount namespace and everything it mounts there.
// What it must not touch: the host's mounts (everything is made rprivate
// first), cgroups (internal/cgroups), network interfaces (the caller attaches
// a veth to the new netns between Started and Release) and reaping (the
// caller owns wait4; nothing here waits for a process).
//
// Hardening as Docker's defaults: /proc/{bus,fs,irq,sys,sysrq-trigger} are
// read-only, /proc/{kcore,keys,timer_list,...} and /sys/firmware are masked,
// and every fd but stdio is close-on-exec. Devices: only the /dev tmpfs
// holds device nodes (null, zero, full, random, urandom, tty, ptmx, devpts,
// and Spec.Devices); the root, its submounts and the volumes are nodev, so
// a node made there or shipped in an image does not open. Which nodes in
// /dev open is the caller's cgroup allow-list (internal/cgroups), which must
// be in place before Release: CAP_MKNOD stays in the default set, as with
// Docker, and only the allow-list stops a mknod'ed node from opening.
// Read-only volumes and a read-only root are read-only for every mount
// below them too (mount_setattr with AT_RECURSIVE, Linux 5.12+).
// Spec.Seccomp, a filter the caller compiled (internal/seccomp: Docker's
// default profile), is installed last, right before exec. Not done (yet): a
// cgroup namespace, /dev/mqueue, rlimits, a user namespace mapping per unit.
//
// The init runs in whatever binary forks it, so that binary's package init
// functions add to every container start (see BenchmarkStartTrue).
package sandbox
