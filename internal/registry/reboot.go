package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Keys of the reboot coordination (package rebootlock owns the policy; the
// layout lives here with the rest).
const (
	rebootDir        = Prefix + "reboot/"
	rebootMaxKey     = rebootDir + "max"
	rebootHoldersDir = rebootDir + "holders/"
	drainDir         = Prefix + "drain/"
	updateDir        = Prefix + "update/"
)

// RebootMaxKey holds the number of machines that may reboot at once (a
// decimal; absent means 1).
func RebootMaxKey() string { return rebootMaxKey }

// RebootHolderKey is one machine's holder key.
func RebootHolderKey(machine string) string { return rebootHoldersDir + machine }

// SetDraining marks a machine draining: the engine places nothing new on
// it and moves its non-global units away. lease 0 keeps the mark until
// ClearDraining.
func (r *Registry) SetDraining(ctx context.Context, machine string, lease LeaseID) error {
	var opts []clientv3.OpOption
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(lease))
	}
	if _, err := r.cli.Put(ctx, drainDir+machine, "draining", opts...); err != nil {
		return fmt.Errorf("registry: mark %s draining: %w", machine, err)
	}
	return nil
}

// ClearDraining lets the engine place units on the machine again.
func (r *Registry) ClearDraining(ctx context.Context, machine string) error {
	if _, err := r.cli.Delete(ctx, drainDir+machine); err != nil {
		return fmt.Errorf("registry: clear draining mark of %s: %w", machine, err)
	}
	return nil
}

// Draining reads the set of machines marked draining.
func (r *Registry) Draining(ctx context.Context) (map[string]bool, error) {
	resp, err := r.cli.Get(ctx, drainDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("registry: read draining machines: %w", err)
	}
	out := map[string]bool{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), drainDir)] = true
	}
	return out, nil
}

// SetUpdateStatus stores the updater's state string for a machine (shown
// as the machine's Update field). It has no lease: the last state stays
// readable while the machine reboots, and only live machines are listed.
func (r *Registry) SetUpdateStatus(ctx context.Context, machine, status string) error {
	if _, err := r.cli.Put(ctx, updateDir+machine, status); err != nil {
		return fmt.Errorf("registry: write update status of %s: %w", machine, err)
	}
	return nil
}

// UpdateStatus reads a machine's update state ("" when none was written).
func (r *Registry) UpdateStatus(ctx context.Context, machine string) (string, error) {
	resp, err := r.cli.Get(ctx, updateDir+machine)
	if err != nil {
		return "", fmt.Errorf("registry: read update status of %s: %w", machine, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// decodeMachines decodes machine records and fills each one's Update from
// the update/ keys.
func decodeMachines(machines, updates *clientv3.GetResponse) []*MachineRecord {
	status := map[string]string{}
	for _, kv := range updates.Kvs {
		status[strings.TrimPrefix(string(kv.Key), updateDir)] = string(kv.Value)
	}
	out := make([]*MachineRecord, 0, len(machines.Kvs))
	for _, kv := range machines.Kvs {
		var m MachineRecord
		if json.Unmarshal(kv.Value, &m) != nil {
			continue
		}
		if s, ok := status[m.ID]; ok {
			// The updater writes its state, then the root's on a
			// second line (internal/updater Daemon.shown).
			m.Update, m.Root, _ = strings.Cut(s, "\n")
		}
		out = append(out, &m)
	}
	return out
}

// RebootHolder is the value of a reboot lock holder key.
type RebootHolder struct {
	Machine string    `json:"machine"`
	Since   time.Time `json:"since"`
}

// RebootLock is the reboot lock as read at one revision.
type RebootLock struct {
	Revision int64
	// Max is reboot/max's raw value and MaxRev its mod revision; MaxRev 0
	// means the key is absent.
	Max     string
	MaxRev  int64
	Holders []HeldSlot // by machine ID
}

// HeldSlot is one holder key: the machine and the lease it is held on.
type HeldSlot struct {
	RebootHolder
	Lease LeaseID
}

// ReadRebootLock reads reboot/max and every holder in one transaction. A
// holder value that does not decode is named by its key.
func (r *Registry) ReadRebootLock(ctx context.Context) (*RebootLock, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(rebootMaxKey),
		clientv3.OpGet(rebootHoldersDir, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: read the reboot lock: %w", err)
	}
	l := &RebootLock{Revision: resp.Header.Revision}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		l.Max, l.MaxRev = string(kvs[0].Value), kvs[0].ModRevision
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		l.Holders = append(l.Holders, decodeHolder(kv.Key, kv.Value, kv.Lease))
	}
	return l, nil
}

func decodeHolder(key, value []byte, lease int64) HeldSlot {
	var h RebootHolder
	if json.Unmarshal(value, &h) != nil || h.Machine == "" {
		h = RebootHolder{Machine: strings.TrimPrefix(string(key), rebootHoldersDir)}
	}
	return HeldSlot{RebootHolder: h, Lease: LeaseID(lease)}
}

// SetRebootMax writes reboot/max.
func (r *Registry) SetRebootMax(ctx context.Context, n int) error {
	if _, err := r.cli.Put(ctx, rebootMaxKey, strconv.Itoa(n)); err != nil {
		return fmt.Errorf("registry: set %s: %w", rebootMaxKey, err)
	}
	return nil
}

// TakeRebootSlot puts h's holder key on lease if the lock is as read in l:
// reboot/max unchanged, no holder changed since l.Revision, and h's key
// absent. taken is false when any of that no longer holds.
func (r *Registry) TakeRebootSlot(ctx context.Context, l *RebootLock, h RebootHolder, lease LeaseID) (taken bool, err error) {
	val, err := json.Marshal(h)
	if err != nil {
		return false, err
	}
	key := rebootHoldersDir + h.Machine
	resp, err := r.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(rebootMaxKey), "=", l.MaxRev),
		clientv3.Compare(clientv3.ModRevision(rebootHoldersDir), "<", l.Revision+1).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
	).Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease))).Commit()
	if err != nil {
		return false, fmt.Errorf("registry: take the reboot lock for %s: %w", h.Machine, err)
	}
	return resp.Succeeded, nil
}

// RebootSlot reads machine's holder key; ok is false when it holds none.
func (r *Registry) RebootSlot(ctx context.Context, machine string) (s HeldSlot, ok bool, err error) {
	resp, err := r.cli.Get(ctx, rebootHoldersDir+machine)
	if err != nil {
		return HeldSlot{}, false, fmt.Errorf("registry: read %s: %w", rebootHoldersDir+machine, err)
	}
	if len(resp.Kvs) == 0 {
		return HeldSlot{}, false, nil
	}
	kv := resp.Kvs[0]
	return decodeHolder(kv.Key, kv.Value, kv.Lease), true, nil
}
