package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrMachineIDTaken: another machine is registered under this machine's ID
// (errors.Is; the error is a *MachineIDConflict naming both).
var ErrMachineIDTaken = errors.New("registry: machine ID in use by another machine")

// MachineIDConflict is two machines with one machine ID, a cloned data
// directory most likely. fleet detected the same (coreos/fleet#615, #1288:
// a registered ID with another public IP).
type MachineIDConflict struct {
	ID     string
	Ours   MachineRecord // the machine trying to register
	Theirs MachineRecord // the machine registered under the ID
}

func (e *MachineIDConflict) Error() string {
	return fmt.Sprintf("machine ID %s is already used by %s; this machine is %s: two machines with one ID would run the same units, so this one does not join (a copied data directory?)",
		e.ID, describeMachine(e.Theirs), describeMachine(e.Ours))
}

func (e *MachineIDConflict) Is(target error) bool { return target == ErrMachineIDTaken }

func describeMachine(m MachineRecord) string {
	s := fmt.Sprintf("name %q, IP %s", m.Name, m.PublicIP)
	if m.APIURL != "" {
		s += ", API " + m.APIURL
	}
	return s
}

// sameMachine reports whether two records come from one machine: a
// restarted fleetd re-registering before its old lease expired.
func sameMachine(a, b MachineRecord) bool {
	return a.Name == b.Name && a.PublicIP == b.PublicIP && a.APIURL == b.APIURL
}

// ClaimMachine registers m on lease, as RegisterMachine does, unless
// another machine (see sameMachine) holds m's ID: then it returns a
// *MachineIDConflict and writes nothing. The check and the write are one
// transaction, so of two machines starting together only one gets in.
func (r *Registry) ClaimMachine(ctx context.Context, m *MachineRecord, lease LeaseID) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := machinesDir + m.ID
	for {
		resp, err := r.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(clientv3.OpPut(key, string(v), clientv3.WithLease(clientv3.LeaseID(lease)))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return fmt.Errorf("registry: register machine %s: %w", m.ID, err)
		}
		if resp.Succeeded {
			return nil
		}
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue // expired in between
		}
		var theirs MachineRecord
		if json.Unmarshal(kvs[0].Value, &theirs) == nil && !sameMachine(theirs, *m) && kvs[0].Lease != int64(lease) {
			return &MachineIDConflict{ID: m.ID, Ours: *m, Theirs: theirs}
		}
		// Our own record (an earlier lease of this fleetd): take it over,
		// unless it changed hands since we read it.
		put, err := r.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
			Then(clientv3.OpPut(key, string(v), clientv3.WithLease(clientv3.LeaseID(lease)))).
			Commit()
		if err != nil {
			return fmt.Errorf("registry: register machine %s: %w", m.ID, err)
		}
		if put.Succeeded {
			return nil
		}
	}
}

// CheckMachineID returns a *MachineIDConflict if another machine holds m's
// ID for longer than wait: a record left by a crashed fleetd of another
// identity is gone after its lease's TTL, a live machine's is not. It
// returns nil when the ID is free or ours, and the registry's error when it
// cannot tell.
func (r *Registry) CheckMachineID(ctx context.Context, m MachineRecord, wait time.Duration) error {
	key := machinesDir + m.ID
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		resp, err := r.cli.Get(wctx, key)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return nil // etcd slow to answer: ClaimMachine still guards
			}
			return fmt.Errorf("registry: read machine %s: %w", m.ID, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		var theirs MachineRecord
		if json.Unmarshal(resp.Kvs[0].Value, &theirs) != nil || sameMachine(theirs, m) {
			return nil
		}
		// Wait for the record to go (its lease expiring) or for wait.
		wch := r.cli.Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(resp.Header.Revision+1))
		deleted := false
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					deleted = true
				}
			}
			if deleted {
				break
			}
		}
		if !deleted {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case wctx.Err() == nil:
				return nil // the watch broke (no leader?): ClaimMachine still guards
			}
			return &MachineIDConflict{ID: m.ID, Ours: m, Theirs: theirs}
		}
	}
}
