// Package container runs a unit's container: it turns a parsed [Container]
// section (Spec) into a running sandbox by wiring the node's parts together:
// the image store (internal/image) for the read-only layers, an overlayfs
// root with a per-unit writable upper directory (the copy-on-write layering
// AUFS brought to Docker), cgroup limits (internal/cgroups), bridge
// networking (internal/netbridge), the seccomp filter of the unit's profile
// (internal/seccomp, compiled for its capability set) and the namespaced init
// (internal/sandbox).
//
// Devices: every container's cgroup gets cgroups.DefaultDevices (Docker's
// allow-list) plus the devices its unit adds with AddDevice=, looked up on
// the node at each start (a missing one fails the start unless the value
// begins with "-"). The overlay root is mounted nodev.
//
// UserNS=auto: the mapped root (host uid/gid sandbox.HostIDBase) must reach
// the unit's root, so the directories above it that others cannot search
// get group HostIDBase and g+x (search, no listing), and the root directory
// itself is the mapped root's (the image's other files stay host root's).
//
// The unit supervisor (internal/unitmgr/native) owns the process:
// Runtime.Prepare hands it what to fork, Run.Started finishes the set-up
// around the forked pid and lets the container exec, and Run.Exited cleans up after it. Destroy removes what a
// unit wrote. It does not reap processes. Run.PrepareExec and
// Run.ExecStarted run a command inside the running container, for
// HealthCmd= (health.go has the Health* keys; the supervisor runs checks).
//
// The [Container] grammar (quadlet.go) is here too: ParseQuadlet reads a
// unit's [Container] section (Podman Quadlet's key names) and its [Service]
// resource keys into a Spec, for every unit-manager backend (native runs the
// Spec through Runtime; systemd turns it into a generated unit). It reads
// the unit file it is handed and nothing else, but the seccomp profile a
// unit names (not at submit, ParseOptions.Submit).
//
// Volumes (volumes.go): Volume=/host:/x binds a host path; Volume=NAME:/x
// a directory the node keeps for NAME (shared by the units naming it, kept
// across restarts and Destroy, as Podman keeps named volumes); Volume=/x an
// anonymous one, made for each start and removed when the container exits.
// A new volume is filled with the image's files at its target, and a
// ReadOnly= container gets writable tmpfs on /run, /tmp and /var/tmp, as
// Podman does. A relative Volume= source is resolved by the client that
// reads the unit file (quadletpath), never here.
//
// On-disk layout under Config.Dir:
//
//	units/<unit>/upper   the unit's writes (kept across restarts, removed by Destroy)
//	units/<unit>/work    overlayfs work dir
//	units/<unit>/rootfs  the merged root while the unit runs
//	units/<unit>/anon/N  the unit's anonymous volumes while it runs
//	volumes/<name>       named volumes
package container
