package unitmgr

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// ErrNotLoaded is returned for operations on a unit the manager does not know.
var ErrNotLoaded = errors.New("unitmgr: unit not loaded")

// Manager runs units on one machine. Every method is safe for concurrent use.
// Start and Stop return once the transition has begun; progress is reported
// through State and Changes.
type Manager interface {
	// Load defines (or redefines) a unit from its file. It does not start or
	// stop anything; a running unit keeps its old definition until restarted.
	// A unit file the backend cannot run is an error naming the field.
	Load(name string, f *unit.File) error
	// Start starts a loaded unit. Starting an active unit is a no-op.
	Start(name string) error
	// Stop stops a unit (ExecStop, KillSignal, TimeoutStopSec, SIGKILL).
	// Stopping an inactive unit is a no-op.
	Stop(name string) error
	// Unload stops the unit if needed and forgets it.
	Unload(name string) error
	// State reports one unit; ok is false when it is not loaded.
	State(name string) (s unit.State, ok bool)
	// Units lists loaded unit names.
	Units() []string
	// Changes delivers the name of a unit whose State changed. Sends never
	// block: a slow reader may see a name once for several changes.
	Changes() <-chan string
	// Fence kills every unit's processes now and waits, at most until the
	// deadline, for them to be gone. Units stay loaded and end inactive.
	// It is what an agent calls when it can no longer prove it owns them.
	Fence(deadline time.Time) error
	// Freeze stops every unit's processes where they are: they run nothing
	// until Thaw, keep their pids, and their State is unchanged (still
	// active: like systemd, which reports FreezerState apart from
	// ActiveState). An agent freezes its units when it can no longer prove
	// it owns them but may yet: a renewal that lands in time thaws them, a
	// lost lease kills them (Fence). An error means some unit may still
	// run; the caller must then Fence.
	Freeze() error
	// Thaw resumes every frozen unit. Thawing running units is a no-op.
	Thaw() error
	// Journal writes the last lines of the unit's log to w; with follow it
	// then streams new output until ctx is done.
	Journal(ctx context.Context, name string, lines int, follow bool, w io.Writer) error
	// Close stops every unit and releases the manager.
	Close() error
}
