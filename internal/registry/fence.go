package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// fencedDir marks machines whose lease was revoked because they died
// (FenceDeadMachine): their units may still be dying, and no engine moves
// them while the mark lives.
const fencedDir = Prefix + "fenced/"

// FenceDeadMachine revokes the lease of the machine registered under name
// (fleetd's --name, also its etcd member name), for a machine known dead
// before its lease could expire. First it marks the machine fenced, on a
// lease of its own that lives at least hold past the revoke, so that an
// engine that sees the machine vanish without knowing why leaves its units
// alone until hold has passed (Fenced). It returns the machine's ID, also
// when another fleetd fenced it first (its mark is found), and with an
// error once the revoke was sent; "" when no machine of that name is
// registered or marked.
func (r *Registry) FenceDeadMachine(ctx context.Context, name string, hold time.Duration) (string, error) {
	resp, err := r.cli.Get(ctx, machinesDir, clientv3.WithPrefix())
	if err != nil {
		return "", fmt.Errorf("registry: read machines: %w", err)
	}
	var id string
	var lease LeaseID
	for _, kv := range resp.Kvs {
		var m MachineRecord
		if json.Unmarshal(kv.Value, &m) == nil && m.Name == name && kv.Lease != 0 {
			id, lease = m.ID, LeaseID(kv.Lease)
		}
	}
	if id == "" {
		// Another fleetd may have fenced it already: its mark names it.
		marks, err := r.cli.Get(ctx, fencedDir, clientv3.WithPrefix())
		if err != nil {
			return "", fmt.Errorf("registry: read fenced machines: %w", err)
		}
		for _, kv := range marks.Kvs {
			if string(kv.Value) == name {
				return strings.TrimPrefix(string(kv.Key), fencedDir), nil
			}
		}
		return "", nil
	}
	// Whole seconds, rounded up: the mark must outlive hold.
	secs := int64((hold + time.Second - 1) / time.Second)
	g, err := r.cli.Grant(ctx, secs)
	if err != nil {
		return "", fmt.Errorf("registry: fence machine %s: grant: %w", id, err)
	}
	if _, err := r.cli.Put(ctx, fencedDir+id, name, clientv3.WithLease(g.ID)); err != nil {
		return "", fmt.Errorf("registry: fence machine %s: %w", id, err)
	}
	// From here on the lease may be gone even when etcd's answer is an
	// error: the ID comes back with it.
	if err := r.Revoke(ctx, lease); err != nil && !errors.Is(err, ErrLeaseNotFound) {
		return id, fmt.Errorf("registry: fence machine %s: %w", id, err)
	}
	// If the dead machine's engine led, its campaign key would hold the
	// election until its session lease ran out, extended like every lease
	// by the new raft leader: end that session too, so the next engine
	// leads now and moves the units when the hold ends.
	if el, err := r.cli.Get(ctx, ElectionPrefix, clientv3.WithPrefix()); err == nil {
		for _, kv := range el.Kvs {
			if string(kv.Value) == id && kv.Lease != 0 {
				if err := r.Revoke(ctx, LeaseID(kv.Lease)); err != nil && !errors.Is(err, ErrLeaseNotFound) {
					return id, fmt.Errorf("registry: fence machine %s: end its engine session: %w", id, err)
				}
			}
		}
	}
	// The mark's lease counts from its grant: renew it once the revoke
	// is done, so that it outlives the revoke by hold however long that
	// took.
	if err := r.RenewOnce(ctx, g.ID); err != nil {
		return id, fmt.Errorf("registry: fence machine %s: %w", id, err)
	}
	return id, nil
}

// Fenced lists the machines marked by FenceDeadMachine whose mark still
// lives. Read it after the Snapshot it qualifies: a machine gone from that
// snapshot because it was fenced was marked before it went.
func (r *Registry) Fenced(ctx context.Context) (map[string]bool, error) {
	resp, err := r.cli.Get(ctx, fencedDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("registry: read fenced machines: %w", err)
	}
	out := map[string]bool{}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), fencedDir)] = true
	}
	return out, nil
}
