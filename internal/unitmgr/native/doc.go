// Package native is Flotilla's native unit manager (the native backend of
// unitmgr.Manager, type Supervisor): one process runs and supervises every
// unit, implementing the everyday subset of systemd's [Service] semantics
// (see serviceKeys in spec.go for the keys it accepts). [Container] units
// are parsed with internal/container's grammar and run by its Runtime;
// specifiers and word splitting are internal/unit's.
//
// What it owns:
//
//   - Reaping for the whole process. A process-wide reaper goroutine waits
//     on SIGCHLD and calls wait4(-1, WNOHANG), handing exit statuses to the
//     unit that spawned the pid and reaping anything else (orphans handed to
//     us: New makes the process a child subreaper). Nothing else in the
//     process may wait for its own children while a Supervisor is alive:
//     no exec.Cmd.Run/Wait/Output, no os.Process.Wait (tests included).
//     The reaper would take their exit status first.
//   - Forking. Every unit process is forked from one locked OS thread that
//     never exits, so the parent-death signal (SIGKILL) that each child gets
//     only fires when the supervising process dies.
//   - Process groups. Each spawned process leads its own group; stopping a
//     unit signals every group it spawned (KillMode=control-group), only the
//     main and control processes (process), or main first then the groups
//     (mixed). A process that calls setsid escapes this; the pid-namespace
//     lifeline (internal/lifeline) or cgroups catch those.
//   - Logs, under Config.Dir/logs: <unit>.log, rotated by size to
//     <unit>.log.1 (newest) .. <unit>.log.<LogKeep>. Program output (stdout
//     and stderr through one pipe per running unit) is stored verbatim;
//     supervisor events are lines "2006-01-02T15:04:05.000Z supervisor: msg"
//     (UTC, milliseconds) such as "Started web.service.". With
//     Config.Forward (log forwarding on), stderr gets a pipe of its own and
//     every write the pumps log is also handed to Forward, stdout's and
//     stderr's apart; the log file still holds both, line by line.
//   - Dependencies between the units loaded on this machine (deps.go,
//     jobs.go), systemd's semantics for [Unit] Requires=, Requisite=,
//     Wants=, BindsTo=, PartOf=, After=, Before= and [Install] WantedBy=,
//     RequiredBy= (X WantedBy=Y: Y wants X while X is loaded, as fleet
//     enables a loaded unit's [Install]). Start starts the unit and
//     what it pulls in, those it is ordered after first; a unit's run
//     begins by waiting for the start jobs it is ordered after (a job
//     ends when its unit is active, or its oneshot has run) and ends
//     inactive with "Dependency failed" when one it needs failed. Stop
//     and Unload stop the units that need the unit, those ordered after
//     it stopping first; a unit that stops or fails by itself stops the
//     units bound to it; an automatic restart restarts the units that
//     need it. One goroutine acts on state changes in order, and only
//     while some unit has dependencies. Where this differs on purpose: a
//     dependency on a unit not loaded here is ignored with a log line
//     (fleet places units elsewhere, and host units such as
//     docker.service do not exist here), and a unit stopped because of
//     another starts again when that one is next active, unless it was
//     stopped by hand meanwhile (fleet still wants it launched).
//     Ordering cycles are broken by ignoring the ordering inside the
//     cycle, with a log line naming it.
//
// What it must not touch: cgroups, namespaces, mounts and networking (other
// packages own those), and the process's other children.
//
// Cost at rest: a running unit costs one goroutine blocked on its exit
// channel and one blocked reading its log pipe (through the netpoller, not
// a thread; two with Config.Forward, one per stream); the Supervisor adds one blocked goroutine for dependencies;
// there are no per-unit timers or polling. Timers exist only during
// transitions (RestartSec, Timeout*Sec), and for a unit with a health
// check, one timer and one goroutine while it runs (health.go): it wakes
// once per HealthInterval, and State.Health changes (a change of state)
// only when the verdict does.
package native
