package unit

import "time"

// Load states, active states and sub states use systemd's words.
const (
	LoadLoaded   = "loaded"
	LoadNotFound = "not-found"
	LoadError    = "error"

	ActiveActive       = "active"
	ActiveInactive     = "inactive"
	ActiveActivating   = "activating"
	ActiveDeactivating = "deactivating"
	ActiveFailed       = "failed"
)

// State is a unit's state as systemd would report it (LoadState, ActiveState,
// SubState), plus why it failed and the main process.
type State struct {
	Load   string    `json:"load"`             // loaded | not-found | error
	Active string    `json:"active"`           // active | inactive | activating | deactivating | failed
	Sub    string    `json:"sub"`              // running | exited | dead | failed | start-pre | start-post | stop | stop-post | auto-restart
	Reason string    `json:"reason,omitempty"` // e.g. "exit-code 3", "signal KILL", "exec: /bin/x: no such file"
	PID    int       `json:"pid,omitempty"`
	Since  time.Time `json:"since"`
	// Hash is the unit file's hash (unit.File.Hash) that the current or
	// last run started from; empty when the unit never ran or the backend
	// cannot tell. A definition loaded while the unit runs shows here only
	// after a restart.
	Hash string `json:"hash,omitempty"`
	// Health is the unit's health check verdict: "" when it has no check,
	// else starting, healthy or unhealthy (Podman's words). Only a change
	// of verdict is a change of state, so passing checks write nothing.
	Health string `json:"health,omitempty"`
	// Addr is the unit's own address on the node's bridge (a container
	// with its own network namespace); empty for units on the host's
	// network. Endpoints and DNS answers carry it.
	Addr string `json:"addr,omitempty"`
}
