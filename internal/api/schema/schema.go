package schema

import "github.com/flotilla-os/flotilla/internal/unit"

// Desired (target) states, fleet's words.
const (
	StateInactive = "inactive"
	StateLoaded   = "loaded"
	StateLaunched = "launched"
)

// Unit is fleet's v1 Unit.
type Unit struct {
	Name         string        `json:"name"`
	Options      []unit.Option `json:"options,omitempty"`
	DesiredState string        `json:"desiredState,omitempty"`
	// CurrentState is what the machine running it reports, in desired-state
	// words (inactive|loaded|launched); empty when not placed.
	CurrentState string `json:"currentState,omitempty"`
	MachineID    string `json:"machineID,omitempty"`
	Hash         string `json:"hash,omitempty"`
}

// UnitPage is one page of units.
type UnitPage struct {
	Units         []*Unit `json:"units"`
	NextPageToken string  `json:"nextPageToken,omitempty"`
}

// UnitState is fleet's v1 UnitState: one unit on one machine.
type UnitState struct {
	Name               string `json:"name"`
	Hash               string `json:"hash,omitempty"`
	MachineID          string `json:"machineID"`
	SystemdLoadState   string `json:"systemdLoadState"`
	SystemdActiveState string `json:"systemdActiveState"`
	SystemdSubState    string `json:"systemdSubState"`
	// Reason says why a unit failed or could not be placed (our extension).
	Reason string `json:"reason,omitempty"`
	PID    int    `json:"pid,omitempty"`
	Since  string `json:"since,omitempty"` // RFC 3339
	// Health is the health check's verdict (starting, healthy,
	// unhealthy), empty for a unit without a check (our extension).
	Health string `json:"health,omitempty"`
	// Addr is the unit's address on its node's bridge, if it has one.
	Addr string `json:"addr,omitempty"`
}

// UnitStatePage is one page of unit states.
type UnitStatePage struct {
	States        []*UnitState `json:"states"`
	NextPageToken string       `json:"nextPageToken,omitempty"`
}

// Machine is fleet's v1 Machine plus our extensions.
type Machine struct {
	ID        string            `json:"id"`
	PrimaryIP string            `json:"primaryIP"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Name      string            `json:"name,omitempty"`    // --name
	APIURL    string            `json:"apiURL,omitempty"`  // where this machine's API answers (logs are proxied there)
	Version   string            `json:"version,omitempty"` // running Flotilla version
	Update    string            `json:"update,omitempty"`  // update state (updater)
	Root      string            `json:"root,omitempty"`    // the root's dm-verity state (updater): verified, corrupt, unverified
	Etcd      string            `json:"etcd,omitempty"`    // leader, member, learner or client
	State     string            `json:"state,omitempty"`   // cordoned, draining or drained; "" places units
	// Capacity units may reserve there ([X-Fleet] ReserveCPU=/ReserveMemory=):
	// thousandths of a CPU and bytes; 0 when the machine reports none.
	CapacityMilliCPU int64 `json:"capacityMilliCPU,omitempty"`
	CapacityMemory   int64 `json:"capacityMemory,omitempty"`
}

// MachinePage is one page of machines.
type MachinePage struct {
	Machines      []*Machine `json:"machines"`
	NextPageToken string     `json:"nextPageToken,omitempty"`
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody carries the HTTP code and a message that names the unit and field.
type ErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Image is one image stored on one machine.
type Image struct {
	MachineID string `json:"machineID"`
	Ref       string `json:"ref"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Layers    int    `json:"layers"`
}

// ImagePage lists a machine's images.
type ImagePage struct {
	Images []*Image `json:"images"`
}

// PullRequest asks a machine to pull (or load) an image; Ref takes the
// transports of Image=: a registry reference, docker-archive:, oci-archive:, oci:.
type PullRequest struct {
	Ref string `json:"ref"`
}
