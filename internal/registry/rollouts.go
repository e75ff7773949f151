package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/rollout"
)

const rolloutsDir = Prefix + "rollouts/"

var (
	// ErrRolloutActive: a rollout of that name, or of one of its units, is
	// still running.
	ErrRolloutActive = errors.New("registry: a rollout is already in progress")
	// ErrConflict: what a write was based on changed meanwhile; read again.
	ErrConflict = errors.New("registry: changed meanwhile; retry")
)

func decodeRollout(v []byte) (*rollout.Rollout, error) {
	var ro rollout.Rollout
	if err := json.Unmarshal(v, &ro); err != nil {
		return nil, err
	}
	return &ro, nil
}

// Rollouts reads every recorded rollout, active or finished.
func (r *Registry) Rollouts(ctx context.Context) (map[string]*rollout.Rollout, error) {
	resp, err := r.cli.Get(ctx, rolloutsDir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registry: rollouts: %w", err)
	}
	out, _ := decodeRollouts(resp.Kvs)
	return out, nil
}

// decodeRollouts decodes rollouts with their mod revisions, skipping any
// that does not decode.
func decodeRollouts(kvs []*mvccpb.KeyValue) (map[string]*rollout.Rollout, map[string]int64) {
	out, revs := map[string]*rollout.Rollout{}, map[string]int64{}
	for _, kv := range kvs {
		if ro, err := decodeRollout(kv.Value); err == nil {
			out[ro.Name], revs[ro.Name] = ro, kv.ModRevision
		}
	}
	return out, revs
}

// Rollout reads one rollout and its revision (for UpdateRollout); nil when
// absent.
func (r *Registry) Rollout(ctx context.Context, name string) (*rollout.Rollout, int64, error) {
	resp, err := r.cli.Get(ctx, rolloutsDir+name)
	if err != nil {
		return nil, 0, fmt.Errorf("registry: rollout %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	ro, err := decodeRollout(resp.Kvs[0].Value)
	if err != nil {
		return nil, 0, fmt.Errorf("registry: stored rollout %s is corrupt: %w", name, err)
	}
	return ro, resp.Kvs[0].ModRevision, nil
}

// StartRollout records ro and replaces its units' files with units in one
// transaction, so that the engine never sees the new files without the
// rollout holding the instances not yet replaced. Each unit must still be
// at the mod revision given (what the caller read), and no active rollout
// may hold any of them, else ErrConflict or ErrRolloutActive. Each new
// file is kept as a revision.
func (r *Registry) StartRollout(ctx context.Context, ro *rollout.Rollout, units []*UnitRecord, modRevs map[string]int64) error {
	all, err := r.Rollouts(ctx)
	if err != nil {
		return err
	}
	cmps := []clientv3.Cmp{}
	for _, other := range all {
		if !other.Active() {
			continue
		}
		if other.Name == ro.Name {
			return fmt.Errorf("%w: %s (%s): wait for it, or fleetctl rollout abort %s", ErrRolloutActive, other.Name, other.State, other.Name)
		}
		for name := range ro.Units {
			if _, ok := other.Units[name]; ok {
				return fmt.Errorf("%w: %s replaces %s: wait for it, or fleetctl rollout abort %s", ErrRolloutActive, other.Name, name, other.Name)
			}
		}
	}
	if old := all[ro.Name]; old == nil {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(rolloutsDir+ro.Name), "=", 0))
	} else {
		_, rev, err := r.Rollout(ctx, ro.Name)
		if err != nil {
			return err
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(rolloutsDir+ro.Name), "=", rev))
	}
	v, err := json.Marshal(ro)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(rolloutsDir+ro.Name, string(v))}
	for _, u := range units {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(unitsDir+u.Name), "=", modRevs[u.Name]))
		val, err := json.Marshal(u)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(unitsDir+u.Name, string(val)), opPutRevision(u))
	}
	if len(ops) > TxnOps {
		return fmt.Errorf("registry: rollout %s: %d units is more than one transaction holds (%d)", ro.Name, len(units), (TxnOps-1)/2)
	}
	resp, err := r.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("registry: start rollout %s: %w", ro.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: rollout %s: its units or an earlier rollout changed while starting it", ErrConflict, ro.Name)
	}
	for _, u := range units {
		if err := r.pruneRevisions(ctx, u.Name); err != nil {
			return err
		}
	}
	return nil
}

// UnitModRevisions reads each unit's record with its mod revision (for
// StartRollout).
func (r *Registry) UnitModRevisions(ctx context.Context, names []string) (map[string]*UnitRecord, map[string]int64, error) {
	ops := make([]clientv3.Op, len(names))
	for i, n := range names {
		ops[i] = clientv3.OpGet(unitsDir + n)
	}
	resp, err := r.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, nil, fmt.Errorf("registry: read units: %w", err)
	}
	recs, revs := map[string]*UnitRecord{}, map[string]int64{}
	for i, n := range names {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue
		}
		var u UnitRecord
		if err := json.Unmarshal(kvs[0].Value, &u); err != nil {
			return nil, nil, fmt.Errorf("registry: stored unit %s is corrupt: %w", n, err)
		}
		recs[n], revs[n] = &u, kvs[0].ModRevision
	}
	return recs, revs, nil
}

// UpdateRollout rewrites a rollout read at rev (Rollout), as the API does
// to pause, resume or abort it; ErrConflict when it changed meanwhile.
func (r *Registry) UpdateRollout(ctx context.Context, ro *rollout.Rollout, rev int64) error {
	v, err := json.Marshal(ro)
	if err != nil {
		return err
	}
	resp, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(rolloutsDir+ro.Name), "=", rev)).
		Then(clientv3.OpPut(rolloutsDir+ro.Name, string(v))).Commit()
	if err != nil {
		return fmt.Errorf("registry: update rollout %s: %w", ro.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: rollout %s", ErrConflict, ro.Name)
	}
	return nil
}

// AdvanceRollout is the engine's write of a rollout's progress, under its
// leadership guard, with the unit files to put back (a revert) in the same
// transaction. The rollout must still be at rev (an API pause or abort in
// between wins; the engine reads again).
func (r *Registry) AdvanceRollout(ctx context.Context, guard Guard, ro *rollout.Rollout, rev int64, revert []*UnitRecord) error {
	v, err := json.Marshal(ro)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(rolloutsDir+ro.Name, string(v))}
	for _, u := range revert {
		val, err := json.Marshal(u)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(unitsDir+u.Name, string(val)))
	}
	resp, err := r.cli.Txn(ctx).If(guard, clientv3.Compare(clientv3.ModRevision(rolloutsDir+ro.Name), "=", rev)).
		Then(ops...).Else(clientv3.OpTxn([]clientv3.Cmp{guard}, nil, nil)).Commit()
	if err != nil {
		return fmt.Errorf("registry: advance rollout %s: %w", ro.Name, err)
	}
	if !resp.Succeeded {
		if !resp.Responses[0].GetResponseTxn().Succeeded {
			return ErrNotLeader
		}
		return fmt.Errorf("%w: rollout %s", ErrConflict, ro.Name)
	}
	return nil
}
