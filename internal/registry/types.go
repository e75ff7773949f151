package registry

import (
	"time"

	"github.com/flotilla-os/flotilla/internal/rollout"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Prefix roots every key.
const Prefix = "/flotilla/"

const (
	unitsDir     = Prefix + "units/"
	desiredDir   = Prefix + "desired/"
	machinesDir  = Prefix + "machines/"
	placementDir = Prefix + "placement/"
	unplacedDir  = Prefix + "unplaced/"
	stateDir     = Prefix + "state/"
	// ElectionPrefix is where the engines campaign.
	ElectionPrefix = Prefix + "engine/"
)

// Target (desired) states, fleet's words.
const (
	TargetInactive = "inactive"
	TargetLoaded   = "loaded"
	TargetLaunched = "launched"
)

// ValidTarget reports whether s is a desired state.
func ValidTarget(s string) bool {
	return s == TargetInactive || s == TargetLoaded || s == TargetLaunched
}

// UnitRecord is a submitted unit file.
type UnitRecord struct {
	Name    string        `json:"name"`
	Hash    string        `json:"hash"`
	Options []unit.Option `json:"options"`
}

// File returns the unit file.
func (u *UnitRecord) File() *unit.File { return unit.FromOptions(u.Options) }

// MachineRecord describes a live machine.
type MachineRecord struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	PublicIP  string            `json:"publicIP"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	APIURL    string            `json:"apiURL,omitempty"`
	Version   string            `json:"version,omitempty"`
	Update    string            `json:"update,omitempty"`
	Root      string            `json:"root,omitempty"` // the updater's: verified, corrupt, unverified
	StartedAt time.Time         `json:"startedAt"`
	// Capacity is what units may reserve there ([X-Fleet] ReserveMemory=,
	// ReserveCPU=): the host's or fleetd's --capacity-* flags, written once
	// with the registration at start, so an idle cluster writes nothing.
	Capacity unit.Resources `json:"capacity,omitzero"`
}

// Placement tells one machine to hold one unit in a target state.
type Placement struct {
	Unit    string        `json:"unit"`
	Machine string        `json:"machine"`
	Target  string        `json:"target"`
	Hash    string        `json:"hash"`
	Options []unit.Option `json:"options"`
}

// StateRecord is what a machine's agent reports for one unit.
type StateRecord struct {
	Unit    string     `json:"unit"`
	Machine string     `json:"machine"`
	Hash    string     `json:"hash"`
	Applied string     `json:"applied"` // the target the agent has applied
	State   unit.State `json:"state"`
}

// Snapshot is the cluster as the engine sees it, read at one revision.
type Snapshot struct {
	Revision   int64
	Units      map[string]*UnitRecord
	Desired    map[string]string
	Machines   map[string]*MachineRecord
	Placements map[string][]*Placement // unit -> placements
	Unplaced   map[string]string       // unit -> reason
	// Draining: machines whose units move away (the updater's pre-reboot
	// mark or an operator's drain); nothing is placed there.
	Draining map[string]bool
	// Cordoned: machines cordoned or drained by an operator; nothing new
	// is placed there.
	Cordoned map[string]bool
	// States is every unit state, read (by the engine, apart from the
	// snapshot) only while some machine drains: a moved unit's old copy
	// stays until its new one runs. nil otherwise.
	States []*StateRecord
	// Moves: pending requests to move a unit off a machine, by unit.
	Moves map[string]*MoveRecord
	// Rollouts by name, with the mod revision each was read at.
	Rollouts    map[string]*rollout.Rollout
	RolloutRevs map[string]int64
}
