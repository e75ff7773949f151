package updater

import (
	"context"

	"github.com/flotilla-os/flotilla/internal/payload"
)

// Boot is the machine's boot side: its slots and ESP entries
// (internal/bootslot on a node, a fake in tests).
type Boot interface {
	// Booted names the slot (A or B) the running root is on.
	Booted() (slot string, err error)
	// WriteRoot streams the file root into the slot that is not booted,
	// hashing while it writes against a, and fsyncs (dm-verity checks
	// the blocks at boot); it returns the slot written. It never touches the booted slot.
	WriteRoot(ctx context.Context, root string, a payload.Artifact, progress func(done int64)) (slot string, err error)
	// InstallUKI puts the UKI on the ESP as flotilla-<version>+3.efi with
	// its command line naming slot, atomically.
	InstallUKI(ctx context.Context, uki string, a payload.Artifact, version, slot string) error
	// Bless removes the boot counter from version's entry.
	Bless(version string) error
	// FailedVersions are the versions whose entries ran out of tries.
	FailedVersions() ([]string, error)
	// Cleanup leaves at most the entries of keep on the ESP.
	Cleanup(keep ...string) error
}

// Cluster is the cluster side: the reboot lock, draining, health and the
// status in the registry (internal/rebootlock on a node).
type Cluster interface {
	// CanReboot refuses while a reboot would cost etcd its quorum or
	// another member is unhealthy.
	CanReboot(ctx context.Context) error
	// Acquire tries once for a slot of the reboot semaphore.
	Acquire(ctx context.Context) (held bool, err error)
	// Held reports whether this machine holds a slot (after a reboot too).
	Held(ctx context.Context) (bool, error)
	// Refresh keeps a held slot alive.
	Refresh(ctx context.Context) error
	Release(ctx context.Context) error
	Drain(ctx context.Context) error
	Undrain(ctx context.Context) error
	// Healthy is nil once fleetd and etcd are healthy on this boot.
	Healthy(ctx context.Context) error
	// SetStatus publishes the update state (fleetctl's UPDATE field).
	SetStatus(ctx context.Context, state string) error
}
