// Package systemdmgr is the systemd backend of unitmgr.Manager: on hosts
// whose PID 1 is systemd (Available), fleetd's agent hands units to systemd
// over D-Bus (Dial) instead of running them itself (internal/supervisor).
//
//	if systemdmgr.Available() {
//		mgr, err := systemdmgr.Dial(ctx, systemdmgr.Config{Logf: log.Printf})
//		...
//	}
//
// What it owns:
//
//   - Unit files named after the unit, directly in Config.UnitDir (default
//     /run/systemd/system, a tmpfs: units vanish at reboot, as fleet's did).
//     Load writes the canonical text (unit.File.String) atomically, mode
//     0644, only when it differs from the file there; Unload removes it.
//     Files it did not write are never touched.
//   - daemon-reload, coalesced: a Load schedules one after a quiet period
//     (ReloadDelay), so a burst of Loads costs one; Start and Stop force a
//     pending one first. A file already on disk and loaded by systemd (the
//     unit's NeedDaemonReload is false) costs no reload, so a restarted
//     fleetd re-Loading its units does not reload systemd.
//   - Unit states. go-systemd's subscription lists units every PollInterval
//     and delivers those that changed or that differ from what the Manager
//     recorded; Start, Stop, Load and every reload re-read their units at
//     once; units believed running are re-read every ResyncInterval (a unit
//     that ran out and was garbage-collected between two polls is otherwise
//     never reported). Failure reasons come from the unit type's Result and
//     ExecMainStatus ("exit-code 3", "exit-code 203/EXEC", "signal KILL").
//
// Jobs are queued with mode "replace" and never waited for; their progress
// shows in State and Changes. Fence queues "replace-irreversibly" stop jobs
// and SIGKILLs every process (KillUnit all), then resets the units it made
// fail so they end inactive. Journal runs journalctl -u NAME -o cat.
//
// What it must not touch: units it did not Load, systemd's configuration
// beyond its own files, and container units: a [Container] section is an
// error until the step that hands systemd a unit with RootDirectory=.
//
// # What is tested, and how
//
// systemd is not PID 1 on the machine these tests were written on, so the
// D-Bus side is tested only against fakeSystemd (fake_test.go), a model of
// systemd written from its documented behaviour, not a recording of it:
// unit files are read only on reload and starting one not read yet fails
// with systemd's NoSuchUnit error; jobs go activating→active or
// deactivating→inactive after a delay; ExecStart=/bin/false fails with
// Result exit-code; SIGKILL fails a running unit with Result signal;
// inactive units are garbage-collected and reported deleted; the
// subscription polls and diffs as go-systemd's does. Against it the tests
// cover: file contents, mode and unchanged-file idempotence; reload
// coalescing (10 sequential or concurrent Loads → 1–2 reloads; 10
// concurrent Load+Start → at most one reload per Start, as a Start does
// not wait out the quiet period); Start right after Load; Start/Stop/Unload; state mapping and
// failure reasons; Changes under a reader that is away (nothing blocks,
// every name arrives); changes made outside the Manager; Fence with a stop
// that hangs, a process that survives SIGKILL (error names only it, return
// at the deadline) and a unit that failed before; Close; error messages
// naming the unit.
//
// Tested for real: the unit files on disk; Journal's handling of a
// journalctl subprocess (a script standing in for it: arguments, follow
// until ctx ends, missing binary, failure with stderr), and the installed
// journalctl accepting the arguments (it finds no journal here); Dial
// returning ErrNoSystemd on a host without systemd. TestDialSystemBus
// (Dial and Close against a real systemd) skips here and has never run.
//
// Where the fake may differ from systemd, untested against the real one:
// the exact D-Bus error names and texts; that systemd loads a new unit file
// on first reference without a reload (the fake needs the reload; the
// Manager reloads anyway); whether KillUnit on an inactive unit errors;
// what Result a unit SIGKILLed during its stop job ends with; the property
// types go-systemd hands back (toInt64 accepts any integer width).
package systemdmgr
