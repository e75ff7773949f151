package schema

import (
	"time"

	"github.com/flotilla-os/flotilla/internal/rollout"
)

// RolloutRequest starts a rolling replace (POST /fleet/v1/rollouts): of
// the unit files in Units, or, with Rollback, of that unit back to its
// revision To (empty: the one before the current), or a rolling restart
// of the units in Restart.
type RolloutRequest struct {
	Units    []*Unit `json:"units,omitempty"`
	Rollback string  `json:"rollback,omitempty"`
	To       string  `json:"to,omitempty"`
	// Restart names units to restart in place, a few instances at a time.
	Restart []string `json:"restart,omitempty"`
	// MaxUnavailable instances replaced at once (nil: the default, 1).
	MaxUnavailable *int `json:"maxUnavailable,omitempty"`
	// MinHealthy, Deadline: Go durations ("2s"); empty for the defaults.
	MinHealthy string `json:"minHealthy,omitempty"`
	Deadline   string `json:"deadline,omitempty"`
	AutoRevert *bool  `json:"autoRevert,omitempty"` // nil: on
}

// Rollout is a rollout's recorded progress.
type Rollout = rollout.Rollout

// RolloutList is every recorded rollout.
type RolloutList struct {
	Rollouts []*Rollout `json:"rollouts"`
}

// Revision is one kept unit file of a unit (GET /fleet/v1/units/{name}/revisions).
type Revision struct {
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time"`
	Current bool      `json:"current,omitempty"`
	Failed  string    `json:"failed,omitempty"` // why a rollout to it was reverted
}

// RevisionList is a unit's kept revisions, newest first.
type RevisionList struct {
	Revisions []*Revision `json:"revisions"`
}
