// Package systemd is the systemd backend of unitmgr.Manager: on hosts
// whose PID 1 is systemd (Available), fleetd's agent hands units to systemd
// over D-Bus (Dial) instead of running them itself (unitmgr/native).
//
//	if systemd.Available() {
//		mgr, err := systemd.Dial(ctx, systemd.Config{Logf: log.Printf})
//		...
//	}
//
// What it owns:
//
//   - Unit files named after the unit, directly in Config.UnitDir (default
//     /run/systemd/system, a tmpfs: units vanish at reboot, as fleet's did).
//     Load writes the canonical text (unit.File.String) atomically, mode
//     0644, only when it differs from the file there; Unload removes it.
//     Files it did not write are never touched. A unit with [Install]
//     WantedBy=/RequiredBy= is enabled as fleet enables it on load (as
//     systemctl enable --runtime would): a link UnitDir/X.wants/<unit>
//     (X.requires) to its file, removed with the unit or its key.
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
// What it must not touch: units it did not Load and systemd's
// configuration beyond its own files. It does not import the native
// backend: the [Container] grammar is internal/container's.
//
// It is tested against fakeSystemd (fake_test.go), a model of systemd
// written from its documented behaviour, and, as root, with a real image
// store and overlay mounts; what systemd itself makes of the generated
// units is untested where systemd is not PID 1 (TestDialSystemBus skips).
//
// # Container units
//
// With Config.Containers (fleetd's container runtime; nil refuses
// [Container] units with a *unit.Error), Load parses [Container] with the
// grammar every backend shares (container.ParseQuadlet), pulls the image and
// mounts the unit's overlay root (container.Runtime.PrepareRoot, the same
// image store, overlay and image/unit config merge as the native backend),
// and writes a generated unit instead of the given one: every section but
// [Container] unchanged, the unit's own [Service] keys passed through
// (resource keys such as MemoryMax=, Restart=, RestartSec=...; systemd
// applies them itself), TimeoutStopSec=10 unless a stop timeout is given,
// then RootDirectory= the mounted root, ExecStart= the merged
// entrypoint+command (argv[0] resolved in the image's PATH; every word
// double-quoted with \ " escaped, $ as $$, % as %%), Environment= each
// variable, WorkingDirectory=, numeric User=/Group=/SupplementaryGroups=
// (looked up in the image's /etc/passwd and /etc/group), MountAPIVFS=,
// PrivateTmp=, PrivateDevices=, ProtectKernelTunables=,
// ProtectControlGroups=, NoNewPrivileges= (all yes), CapabilityBoundingSet=
// (Docker's default set after AddCapability=/DropCapability=), the
// settings the unit's seccomp profile maps to (seccomp.Profile.Systemd:
// SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=,
// RestrictNamespaces=, RestrictAddressFamilies=, LockPersonality=; none
// with SeccompProfile=unconfined; a profile systemd cannot express is a
// Load error on SeccompProfile=), DevicePolicy=closed with one
// DeviceAllow= per rule of the native backend's allow-list
// (cgroups.DefaultDevices and AddDevice=, as /dev/char/MAJ:MIN, char-pts
// or char-* / block-* for mknod), BindPaths= host:container per
// AddDevice=, BindPaths= src:dst per Volume= and BindReadOnlyPaths=
// src:dst:rbind per :ro Volume= (systemd makes every mount below it
// read-only too), ReadOnlyPaths=/ for
// ReadOnly=true, PrivateNetwork=yes for Network=none. A re-Load of the same
// unit text does nothing (no pull, no mount, no write). A changed
// container unit is prepared afresh: its root is remounted over the same
// upper directory, even while a running unit still holds the old mount in
// its own mount namespace (two overlays sharing an upper directory are
// undefined to overlayfs; the new one is meant for the next start).
// Unload queues the stop, waits for the unit to be down (CloseTimeout,
// then SIGKILL and 5 s), unmounts the root and removes its writes
// (Destroy); Close unmounts the roots of the units it stopped and keeps
// their writes.
//
// Refused at Load with a *unit.Error naming the key, before any pull:
// Network=bridge (also the default: bridge networking needs the native
// manager, use Network=host or none here), PublishPort=, UserNS=auto (no
// id mapping here), HostName= (systemd cannot set a unit's hostname),
// Type=oneshot, and the [Service] keys the generated unit owns (ExecStart=,
// RootDirectory=, User=, Environment=...). ExecStartPre= and the other
// Exec*= keys pass through and so run inside the container root, unlike
// the native manager's. Pulls happen inside Load under the lock that
// serialises Loads, bounded by PrepareTimeout.
//
// # Health checks
//
// This backend runs none: a unit with [Container] HealthCmd=,
// Notify=healthy or [X-Fleet] HealthCheck= is refused at Load with a
// *unit.Error naming the key (health.go), so the unit fails to load on a
// systemd-backed machine rather than run unchecked. Its State.Health is
// always "". The native backend runs them.
package systemd
