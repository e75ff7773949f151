package updater

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/payload"
)

// Phase is where an update stands. The on-disk state.json holds one, so
// that the daemon resumes from it after a power cut.
type Phase string

const (
	Idle        Phase = "idle"         // nothing under way
	Downloading Phase = "downloading"  // fetching Target into the download dir
	Writing     Phase = "writing"      // writing the root to Slot, then the UKI
	Staged      Phase = "staged"       // slot and UKI written, lock not yet asked
	WaitingLock Phase = "waiting-lock" // waiting for the cluster's reboot lock
	Draining    Phase = "draining"     // units moving away
	Rebooting   Phase = "rebooting"    // PID 1 asked to reboot; on the next boot: waiting to be healthy
	Blessed     Phase = "blessed"      // Target runs, is healthy and its entry blessed
	Failed      Phase = "failed"       // Target did not boot: the machine fell back
)

// State is the daemon's persistent state, /var/lib/flotilla/update/state.json.
type State struct {
	Phase  Phase  `json:"phase"`
	Target string `json:"target,omitempty"` // the version being applied
	From   string `json:"from,omitempty"`   // the version running when it began
	Slot   string `json:"slot,omitempty"`   // the slot Target is written to
	// BootID is /proc/sys/kernel/random/boot_id when Rebooting began: a
	// different one means the machine rebooted since.
	BootID    string   `json:"boot_id,omitempty"`
	Progress  int      `json:"progress"` // percent of the current phase
	LastError string   `json:"last_error,omitempty"`
	Failed    []string `json:"failed,omitempty"` // versions never retried
	// PointerSerial is the highest channel pointer serial accepted: an
	// older signed pointer is a replay and is refused.
	PointerSerial uint64 `json:"pointer_serial,omitempty"`
	// WindowOpens is when the reboot window next opens, while a staged
	// update waits for it (WaitingLock outside the window).
	WindowOpens time.Time `json:"window_opens,omitzero"`
	Changed     time.Time `json:"changed"`
}

// Label is the phase as status and fleetctl show it: "failed:<v>" for a
// failed version, and the progress while downloading or writing.
func (s *State) Label() string {
	switch s.Phase {
	case Failed:
		return "failed:" + s.Target
	case Downloading, Writing:
		return fmt.Sprintf("%s %s %d%%", s.Phase, s.Target, s.Progress)
	case WaitingLock:
		if !s.WindowOpens.IsZero() {
			return "waiting-window " + s.Target
		}
	case "", Idle:
		return string(Idle)
	}
	return string(s.Phase) + " " + s.Target
}

// addFailed records v as failed, once, in version order.
func (s *State) addFailed(vs ...string) {
	for _, v := range vs {
		if v != "" && !slices.Contains(s.Failed, v) {
			s.Failed = append(s.Failed, v)
		}
	}
	slices.SortFunc(s.Failed, payload.Compare)
}

// LoadState reads path; a missing file is the idle state.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{Phase: Idle}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it to start over from idle)", path, err)
	}
	switch s.Phase {
	case Idle, Downloading, Writing, Staged, WaitingLock, Draining, Rebooting, Blessed, Failed:
	case "":
		s.Phase = Idle
	default:
		return nil, fmt.Errorf("%s: unknown phase %q (remove it to start over from idle)", path, s.Phase)
	}
	return &s, nil
}

// Save writes s to path atomically (temporary file, fsync, rename).
func (s *State) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return payload.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// Status is what `updater status` shows: the state and what runs now.
type Status struct {
	State
	Running string `json:"running"`     // the running version
	Booted  string `json:"booted_slot"` // A or B
	Summary string `json:"state"`       // State.Label()
	// Root says whether the running root is read through dm-verity:
	// RootVerified, RootCorrupt or RootUnverified.
	Root      string    `json:"root,omitempty"`
	NextCheck time.Time `json:"next_check,omitzero"`
}

// Table renders st for people.
func (st *Status) Table() string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-16s %s\n", k, v) }
	row("RUNNING", st.Running)
	row("BOOTED SLOT", st.Booted)
	row("ROOT", orNone(st.Root))
	row("STATE", st.Summary)
	if st.Target != "" {
		row("TARGET", st.Target)
	}
	if st.Phase == Downloading || st.Phase == Writing {
		row("PROGRESS", fmt.Sprintf("%d%%", st.Progress))
	}
	row("LAST ERROR", orNone(st.LastError))
	row("FAILED", orNone(strings.Join(st.Failed, ", ")))
	if !st.NextCheck.IsZero() {
		row("NEXT CHECK", st.NextCheck.Format(time.RFC3339))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
