package registry

import (
	"context"
	"encoding/json"
	"fmt"
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

// RebootHoldersPrefix is the prefix of the reboot lock's holder keys.
func RebootHoldersPrefix() string { return rebootHoldersDir }

// RebootHolderKey is one machine's holder key.
func RebootHolderKey(machine string) string { return rebootHoldersDir + machine }

// RebootHolderMachine extracts the machine ID from a holder key.
func RebootHolderMachine(key string) string { return strings.TrimPrefix(key, rebootHoldersDir) }

// SetDraining marks a machine draining: the engine places nothing new on
// it and moves its non-global units away. lease 0 keeps the mark until
// ClearDraining.
func (r *Registry) SetDraining(ctx context.Context, machine string, lease clientv3.LeaseID) error {
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
			m.Update = s
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
