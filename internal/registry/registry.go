package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	// ErrUnitExists: a different unit file is already stored under the name.
	ErrUnitExists = errors.New("registry: a different unit with this name exists")
	// ErrUnitNotFound: no unit is stored under the name.
	ErrUnitNotFound = errors.New("registry: unit not found")
)

// Registry reads and writes the cluster state.
type Registry struct {
	cli *clientv3.Client
}

// New wraps an etcd client.
func New(cli *clientv3.Client) *Registry { return &Registry{cli: cli} }

// PutUnit stores a unit with its desired state in one transaction. An
// identical unit only has its desired state set; a different one is replaced
// only when replace is set, else ErrUnitExists. created reports a new unit.
func (r *Registry) PutUnit(ctx context.Context, u *UnitRecord, desired string, replace bool) (created bool, err error) {
	if !ValidTarget(desired) {
		return false, fmt.Errorf("registry: desired state %q: want inactive, loaded or launched", desired)
	}
	val, err := json.Marshal(u)
	if err != nil {
		return false, err
	}
	key := unitsDir + u.Name
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val)), clientv3.OpPut(desiredDir+u.Name, desired), opPutRevision(u)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("registry: put unit %s: %w", u.Name, err)
	}
	if resp.Succeeded {
		return true, r.pruneRevisions(ctx, u.Name)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 { // destroyed in between: try again once
		return r.PutUnit(ctx, u, desired, replace)
	}
	var old UnitRecord
	if err := json.Unmarshal(kvs[0].Value, &old); err != nil {
		return false, fmt.Errorf("registry: stored unit %s is corrupt: %w", u.Name, err)
	}
	if old.Hash != u.Hash && !replace {
		return false, ErrUnitExists
	}
	ops := []clientv3.Op{clientv3.OpPut(desiredDir+u.Name, desired)}
	if old.Hash != u.Hash {
		ops = append(ops, clientv3.OpPut(key, string(val)), opPutRevision(u))
	}
	resp, err = r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
		Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("registry: replace unit %s: %w", u.Name, err)
	}
	if !resp.Succeeded {
		return false, fmt.Errorf("registry: unit %s changed while replacing it; retry", u.Name)
	}
	if old.Hash != u.Hash {
		return false, r.pruneRevisions(ctx, u.Name)
	}
	return false, nil
}

// SetDesired sets the desired state of an existing unit.
func (r *Registry) SetDesired(ctx context.Context, name, desired string) error {
	if !ValidTarget(desired) {
		return fmt.Errorf("registry: desired state %q: want inactive, loaded or launched", desired)
	}
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(unitsDir+name), ">", 0)).
		Then(clientv3.OpPut(desiredDir+name, desired)).Commit()
	if err != nil {
		return fmt.Errorf("registry: set desired state of %s: %w", name, err)
	}
	if !resp.Succeeded {
		return ErrUnitNotFound
	}
	return nil
}

// DestroyUnit removes a unit and its kept revisions (as fleet's destroy
// leaves nothing); the engine then removes its placements.
func (r *Registry) DestroyUnit(ctx context.Context, name string) error {
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(unitsDir+name), ">", 0)).
		Then(clientv3.OpDelete(unitsDir+name), clientv3.OpDelete(desiredDir+name),
			clientv3.OpDelete(revisionsDir+name+"/", clientv3.WithPrefix())).Commit()
	if err != nil {
		return fmt.Errorf("registry: destroy %s: %w", name, err)
	}
	if !resp.Succeeded {
		return ErrUnitNotFound
	}
	return nil
}

// Unit reads one unit and its desired state; nil when absent.
func (r *Registry) Unit(ctx context.Context, name string) (*UnitRecord, string, error) {
	resp, err := r.cli.Txn(ctx).Then(clientv3.OpGet(unitsDir+name), clientv3.OpGet(desiredDir+name)).Commit()
	if err != nil {
		return nil, "", fmt.Errorf("registry: get unit %s: %w", name, err)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, "", nil
	}
	var u UnitRecord
	if err := json.Unmarshal(kvs[0].Value, &u); err != nil {
		return nil, "", fmt.Errorf("registry: stored unit %s is corrupt: %w", name, err)
	}
	desired := TargetInactive
	if d := resp.Responses[1].GetResponseRange().Kvs; len(d) > 0 {
		desired = string(d[0].Value)
	}
	return &u, desired, nil
}

// Snapshot reads units, desired states, machines, placements, unplaced
// reasons, draining marks, cordons, moves and rollouts at one revision
// (not States: see Snapshot).
func (r *Registry) Snapshot(ctx context.Context) (*Snapshot, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(unitsDir, clientv3.WithPrefix()),
		clientv3.OpGet(desiredDir, clientv3.WithPrefix()),
		clientv3.OpGet(machinesDir, clientv3.WithPrefix()),
		clientv3.OpGet(placementDir, clientv3.WithPrefix()),
		clientv3.OpGet(unplacedDir, clientv3.WithPrefix()),
		clientv3.OpGet(drainDir, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		opGetMetadata(),
		clientv3.OpGet(cordonDir, clientv3.WithPrefix()),
		clientv3.OpGet(movesDir, clientv3.WithPrefix()),
		clientv3.OpGet(rolloutsDir, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	s := &Snapshot{
		Revision:   resp.Header.Revision,
		Units:      map[string]*UnitRecord{},
		Desired:    map[string]string{},
		Machines:   map[string]*MachineRecord{},
		Placements: map[string][]*Placement{},
		Unplaced:   map[string]string{},
		Draining:   map[string]bool{},
		Cordoned:   map[string]bool{},
	}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		var u UnitRecord
		if json.Unmarshal(kv.Value, &u) == nil {
			s.Units[u.Name] = &u
		}
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		s.Desired[strings.TrimPrefix(string(kv.Key), desiredDir)] = string(kv.Value)
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		var m MachineRecord
		if json.Unmarshal(kv.Value, &m) == nil {
			s.Machines[m.ID] = &m
		}
	}
	for _, kv := range resp.Responses[3].GetResponseRange().Kvs {
		var p Placement
		if json.Unmarshal(kv.Value, &p) == nil {
			s.Placements[p.Unit] = append(s.Placements[p.Unit], &p)
		}
	}
	for _, kv := range resp.Responses[4].GetResponseRange().Kvs {
		s.Unplaced[strings.TrimPrefix(string(kv.Key), unplacedDir)] = string(kv.Value)
	}
	for _, kv := range resp.Responses[5].GetResponseRange().Kvs {
		s.Draining[strings.TrimPrefix(string(kv.Key), drainDir)] = true
	}
	overlayMetadata(maps.Values(s.Machines), (*clientv3.GetResponse)(resp.Responses[6].GetResponseRange()))
	for id, c := range decodeCordons(resp.Responses[7].GetResponseRange().Kvs) {
		s.Cordoned[id] = true
		if c.Drain {
			s.Draining[id] = true
		}
	}
	s.Moves = decodeMoves(resp.Responses[8].GetResponseRange().Kvs)
	s.Rollouts, s.RolloutRevs = decodeRollouts(resp.Responses[9].GetResponseRange().Kvs)
	return s, nil
}
