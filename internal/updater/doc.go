// Package updater is `updater` on a node and at the publisher: the command
// tree (Command), and the daemon's state machine (Daemon) that applies a
// signed payload from internal/payload as an A/B update.
//
// The daemon's sequence, one Phase per step, each saved atomically in
// /var/lib/flotilla/update/state.json before it starts:
//
//	idle → downloading → writing → staged → waiting-lock → draining → rebooting
//	→ (next boot, running the target) healthy → bless → undrain, release → blessed
//	→ (next boot, still the old version) failed:<v>, never retried
//
// While a reboot window is shut, waiting-lock shows as waiting-window.
//
// The two seams are Boot (slots and ESP entries: internal/bootslot, see
// NodeBoot) and Cluster (reboot lock, drain, health, registry status:
// internal/rebootlock, see NodeCluster). Nothing here writes a slot or the
// ESP itself, and nothing reaches Boot before the payload's signatures and
// hashes are verified by payload.Fetcher.
//
// The running daemon answers on a root-only unix socket
// (/run/flotilla/updater.sock): GET /status, POST /check.
package updater
