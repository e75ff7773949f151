package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// movesDir holds requests to move one unit off one machine (rebalance):
// moves/<unit> = MoveRecord, no lease. The engine hands the unit over as
// a drain does and deletes the request once the unit has left From, or
// when it cannot (no longer there, or nowhere else to go).
const movesDir = Prefix + "moves/"

// MoveRecord asks the engine to move Unit from machine From, preferably
// to To ("" lets placement choose).
type MoveRecord struct {
	Unit  string    `json:"unit"`
	From  string    `json:"from"`
	To    string    `json:"to,omitempty"`
	Since time.Time `json:"since"`
}

// RequestMove stores a move request, replacing any earlier one for the
// unit.
func (r *Registry) RequestMove(ctx context.Context, m MoveRecord) error {
	if m.Since.IsZero() {
		m.Since = time.Now().UTC()
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := r.cli.Put(ctx, movesDir+m.Unit, string(v)); err != nil {
		return fmt.Errorf("registry: request a move of %s: %w", m.Unit, err)
	}
	return nil
}

// Moves reads the pending move requests, by unit.
func (r *Registry) Moves(ctx context.Context) (map[string]*MoveRecord, error) {
	resp, err := r.cli.Get(ctx, movesDir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registry: read move requests: %w", err)
	}
	return decodeMoves(resp.Kvs), nil
}

func decodeMoves(kvs []*mvccpb.KeyValue) map[string]*MoveRecord {
	out := map[string]*MoveRecord{}
	for _, kv := range kvs {
		var m MoveRecord
		if json.Unmarshal(kv.Value, &m) != nil {
			continue // the engine clears it: no From to leave
		}
		m.Unit = strings.TrimPrefix(string(kv.Key), movesDir)
		out[m.Unit] = &m
	}
	return out
}

// ClearMove is the engine's write deleting a unit's move request.
func ClearMove(unitName string) Change { return Change{ClearMove: unitName} }
