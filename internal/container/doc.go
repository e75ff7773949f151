// Package container runs a unit's container: it turns a parsed [Container]
// section (Spec) into a running sandbox by wiring the node's parts together:
// the image store (internal/image) for the read-only layers, an overlayfs
// root with a per-unit writable upper directory (the copy-on-write layering
// AUFS brought to Docker), cgroup limits (internal/cgroups), bridge
// networking (internal/netbridge), the seccomp filter of the unit's profile
// (internal/seccomp, compiled for its capability set) and the namespaced init
// (internal/sandbox).
//
// The unit supervisor owns the process: Runtime.Prepare hands it what to
// fork, Run.Started finishes the set-up around the forked pid and lets the
// container exec, and Run.Exited cleans up after it. Destroy removes what a
// unit wrote. The package does not parse unit files (the supervisor does,
// into Spec) and does not reap processes.
//
// On-disk layout under Config.Dir:
//
//	units/<unit>/upper   the unit's writes (kept across restarts, removed by Destroy)
//	units/<unit>/work    overlayfs work dir
//	units/<unit>/rootfs  the merged root while the unit runs
package container
