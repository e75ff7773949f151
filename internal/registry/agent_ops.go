package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// RegisterMachine puts the machine record on lease.
func (r *Registry) RegisterMachine(ctx context.Context, m *MachineRecord, lease LeaseID) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := r.cli.Put(ctx, machinesDir+m.ID, string(v), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("registry: register machine %s: %w", m.ID, err)
	}
	return nil
}

// machinePlacementPrefix is the key prefix an agent watches.
func machinePlacementPrefix(machine string) string { return placementDir + machine + "/" }

// decodePlacement decodes a placement value.
func decodePlacement(v []byte) (*Placement, error) {
	var p Placement
	if err := json.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("registry: corrupt placement: %w", err)
	}
	return &p, nil
}

// placementUnit extracts the unit name from a placement key.
func placementUnit(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// Placements reads a machine's placements and the revision to watch from.
func (r *Registry) Placements(ctx context.Context, machine string) (map[string]*Placement, int64, error) {
	resp, err := r.cli.Get(ctx, machinePlacementPrefix(machine), clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("registry: read placements of %s: %w", machine, err)
	}
	out := make(map[string]*Placement, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		p, err := decodePlacement(kv.Value)
		if err != nil {
			return nil, 0, err
		}
		out[p.Unit] = p
	}
	return out, resp.Header.Revision, nil
}

// StateWrite is one state report: a record to put, or a unit to delete.
type StateWrite struct {
	Unit   string
	Record *StateRecord // nil deletes
}

// WriteStates writes a machine's state reports on its lease, in as few
// transactions as TxnOps allows.
func (r *Registry) WriteStates(ctx context.Context, machine string, lease LeaseID, ws []StateWrite) error {
	for start := 0; start < len(ws); start += TxnOps {
		end := min(start+TxnOps, len(ws))
		ops := make([]clientv3.Op, 0, end-start)
		for _, w := range ws[start:end] {
			key := stateDir + machine + "/" + w.Unit
			if w.Record == nil {
				ops = append(ops, clientv3.OpDelete(key))
				continue
			}
			v, err := json.Marshal(w.Record)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(key, string(v), clientv3.WithLease(lease)))
		}
		if _, err := r.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("registry: write %d unit states of %s: %w", len(ops), machine, err)
		}
	}
	return nil
}

// States reads every unit state report.
func (r *Registry) States(ctx context.Context) ([]*StateRecord, error) {
	resp, err := r.cli.Get(ctx, stateDir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registry: read unit states: %w", err)
	}
	out := make([]*StateRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var s StateRecord
		if json.Unmarshal(kv.Value, &s) == nil {
			out = append(out, &s)
		}
	}
	return out, nil
}

// Machines reads every live machine, each with its updater's state.
func (r *Registry) Machines(ctx context.Context) ([]*MachineRecord, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(machinesDir, clientv3.WithPrefix()),
		clientv3.OpGet(updateDir, clientv3.WithPrefix()),
		opGetMetadata(),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: read machines: %w", err)
	}
	ms := decodeMachines((*clientv3.GetResponse)(resp.Responses[0].GetResponseRange()),
		(*clientv3.GetResponse)(resp.Responses[1].GetResponseRange()))
	overlayMetadata(slices.Values(ms), (*clientv3.GetResponse)(resp.Responses[2].GetResponseRange()))
	return ms, nil
}

// Etcd roles of a machine, as EtcdRoles and list-machines name them.
const (
	EtcdLeader  = "leader"  // etcd member, raft's current leader
	EtcdMember  = "member"  // etcd member following the leader
	EtcdLearner = "learner" // non-voting etcd member
	EtcdClient  = "client"  // no etcd member of its own
)

// EtcdRoles maps each etcd member's name (fleetd's --name) to its role,
// EtcdLeader or EtcdMember/EtcdLearner. The leader comes from the first
// endpoint that answers a status request within a second, so a dead member
// among the endpoints delays it by at most that. Neither call goes through
// raft (the member list is read serializably): list-machines may be polled.
func (r *Registry) EtcdRoles(ctx context.Context) (map[string]string, error) {
	members, err := r.cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("registry: etcd members: %w", err)
	}
	var leader uint64
	for _, ep := range r.cli.Endpoints() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := r.cli.Status(sctx, ep)
		cancel()
		if err == nil && st.Leader != 0 {
			leader = st.Leader
			break
		}
	}
	roles := make(map[string]string, len(members.Members))
	for _, m := range members.Members {
		switch {
		case m.ID == leader:
			roles[m.Name] = EtcdLeader
		case m.IsLearner:
			roles[m.Name] = EtcdLearner
		default:
			roles[m.Name] = EtcdMember
		}
	}
	return roles, nil
}

// StateView is what the state listing needs, read at one revision: every
// state report, every unplaced reason, and each unit's hash (the unit files
// themselves are not decoded).
type StateView struct {
	States   []*StateRecord
	Unplaced map[string]string
	Hashes   map[string]string // unit -> hash
}

// ReadStateView reads a StateView in one transaction.
func (r *Registry) ReadStateView(ctx context.Context) (*StateView, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(stateDir, clientv3.WithPrefix()),
		clientv3.OpGet(unplacedDir, clientv3.WithPrefix()),
		clientv3.OpGet(unitsDir, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: read unit states: %w", err)
	}
	v := &StateView{Unplaced: map[string]string{}, Hashes: map[string]string{}}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		var s StateRecord
		if json.Unmarshal(kv.Value, &s) == nil {
			v.States = append(v.States, &s)
		}
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		v.Unplaced[strings.TrimPrefix(string(kv.Key), unplacedDir)] = string(kv.Value)
	}
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		var u struct {
			Name string `json:"name"`
			Hash string `json:"hash"`
		}
		if json.Unmarshal(kv.Value, &u) == nil {
			v.Hashes[u.Name] = u.Hash
		}
	}
	return v, nil
}
