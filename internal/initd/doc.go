// Package initd is Flotilla's PID 1 (the init/ command is a thin main over
// it). One static binary runs twice: as /init in the initramfs (stage 1:
// API file systems, modules, find the disk, grow STATE, mount the slot's
// squashfs, switch_root) and as /sbin/init on that root (stage 2: cgroup2,
// STATE at /var, ESP at /efi, the boot config, machine-id, hostname,
// network, entropy seed, TLS files, the hosted unit manager, fleetd and the
// updater, shutdown). docs/init.md has the sequence, the console markers,
// the files on STATE and the signals.
//
// Boot steps are data (Step = libinit.Creator; EarlyMounts, LateMounts),
// as in u-root's libinit, without its cgroup v1 or resolv.conf.
//
// It orders the boot and delegates: the boot disk and STATE's formatting
// and growth to internal/statedisk, the host network (static addresses,
// DHCPv4 leases) to internal/hostnet, the node's paths and kernel command
// line to internal/node. It keeps the boot sequence, the mounts, service
// supervision, fleetd's arguments and the fatal path.
//
// # Who reaps
//
// PID 1 inherits every orphan, and internal/unitmgr/native already owns a
// process-wide reaper (wait4(-1) on SIGCHLD) that hands exit statuses to
// the supervisor that forked the pid and reaps everything else. Two waiters
// would steal each other's children, so in stage 2 that reaper is the only
// one: init starts its own services (fleetd, the updater, the debug shell)
// as units of a second native.Supervisor (Services, under
// /var/lib/flotilla/services, a namespace fleetd cannot see or unload),
// beside the unitmgr/machine supervisor that runs the cluster's units. Both share
// the one reaper. Services adds what the supervisor's Restart= lacks:
// exponential backoff (Backoff: 1 s doubling to 30 s, reset after 60 s up),
// watching Changes with Restart=no units; and it follows each service's
// log (the supervisor's rotated log writer) onto the console, prefixed.
//
// So init itself never waits for a child while a supervisor lives:
// mke2fs and resize2fs (exec.Cmd) run before the first supervisor is made,
// and the waiting loops of the fatal path (the respawned debug shell) and of
// shutdown (KillAll) run only when there is none (after Close of both).
// The debug shell as a service is "init console-shell TTY", a helper
// process that starts the shell as a session leader on the tty and waits
// for it itself (the supervisor makes each process a group leader, which
// cannot call setsid).
//
// Log forwarding: the config's log_forward is init's to act on, since the
// units' output reaches init's manager and fleetd's and the updater's
// output reaches its services' supervisor; both hand their lines to one
// internal/logforward.Forwarder (logforward.go), and the unit manager's
// socket serves its counters to fleetd's /metrics (process="init").
// fleetd gets no --log-forward.
//
// What it must not touch: the partitioning code (internal/diskimage), the
// config format (internal/bootconfig), the unit manager's insides
// (internal/unitmgr/machine, internal/unitmgr/native), fleetd's flags, which it only
// builds (FleetdArgs), and fleetd's API: fleetd submits the config's units
// itself (--submit-units).
package initd
