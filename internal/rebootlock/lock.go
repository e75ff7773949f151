package rebootlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/registry"
)

const (
	// DefaultMax is the number of holders when reboot/max was never set.
	DefaultMax = 1
	// HolderTTL is the holder lease's TTL: long enough for a reboot under
	// TCG, short enough that a node that died holding the lock does not
	// stop the cluster's updates for long.
	HolderTTL = 10 * time.Minute
)

// ErrNotHeld: the machine holds no slot of the reboot lock (never took one,
// released it, or its lease expired).
var ErrNotHeld = errors.New("rebootlock: this machine does not hold the reboot lock")

// Max reads how many machines may hold the lock at once.
func Max(ctx context.Context, cli *clientv3.Client) (int, error) {
	resp, err := cli.Get(ctx, registry.RebootMaxKey())
	if err != nil {
		return 0, fmt.Errorf("rebootlock: read %s: %w", registry.RebootMaxKey(), err)
	}
	n, _, err := parseMax(resp.Kvs)
	return n, err
}

func parseMax(kvs []*mvccpb.KeyValue) (n int, modRev int64, err error) {
	if len(kvs) == 0 {
		return DefaultMax, 0, nil
	}
	n, err = strconv.Atoi(strings.TrimSpace(string(kvs[0].Value)))
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("rebootlock: %s holds %q, not a count: fix it with `updater set-max N`", registry.RebootMaxKey(), kvs[0].Value)
	}
	return n, kvs[0].ModRevision, nil
}

// SetMax sets how many machines may hold the lock at once. 0 stops every
// new reboot (holders keep their slots); it is how an operator pauses
// rolling updates.
func SetMax(ctx context.Context, cli *clientv3.Client, n int) error {
	if n < 0 {
		return fmt.Errorf("rebootlock: max %d: want 0 (pause reboots) or more", n)
	}
	if _, err := cli.Put(ctx, registry.RebootMaxKey(), strconv.Itoa(n)); err != nil {
		return fmt.Errorf("rebootlock: set %s: %w", registry.RebootMaxKey(), err)
	}
	return nil
}

// Acquire takes a slot of the reboot lock for machine, on a new lease of
// HolderTTL. held is false when every slot is taken. A machine that
// already holds a slot keeps it (its lease is renewed).
func Acquire(ctx context.Context, cli *clientv3.Client, machine string) (held bool, err error) {
	return AcquireTTL(ctx, cli, machine, HolderTTL)
}

// AcquireTTL is Acquire with another holder lease TTL (tests, tuning).
func AcquireTTL(ctx context.Context, cli *clientv3.Client, machine string, ttl time.Duration) (held bool, err error) {
	if machine == "" || strings.Contains(machine, "/") {
		return false, fmt.Errorf("rebootlock: machine ID %q: want a non-empty ID without '/'", machine)
	}
	key := registry.RebootHolderKey(machine)
attempt:
	for range 20 {
		resp, err := cli.Txn(ctx).Then(
			clientv3.OpGet(registry.RebootMaxKey()),
			clientv3.OpGet(registry.RebootHoldersPrefix(), clientv3.WithPrefix()),
		).Commit()
		if err != nil {
			return false, fmt.Errorf("rebootlock: read the reboot lock: %w", err)
		}
		max, maxRev, err := parseMax(resp.Responses[0].GetResponseRange().Kvs)
		if err != nil {
			return false, err
		}
		holders := resp.Responses[1].GetResponseRange().Kvs
		for _, kv := range holders {
			if string(kv.Key) == key {
				if err := keepAlive(ctx, cli, clientv3.LeaseID(kv.Lease)); err != nil {
					if errors.Is(err, ErrNotHeld) {
						continue attempt // expired just now: try again
					}
					return false, err
				}
				return true, nil
			}
		}
		if len(holders) >= max {
			return false, nil
		}
		won, err := tryTake(ctx, cli, machine, ttl, maxRev, resp.Header.Revision)
		if err != nil || won {
			return won, err
		}
	}
	return false, fmt.Errorf("rebootlock: %s: the lock kept changing while taking it; try again", machine)
}

// tryTake puts the holder key if nothing changed since rev.
func tryTake(ctx context.Context, cli *clientv3.Client, machine string, ttl time.Duration, maxRev, rev int64) (bool, error) {
	lease, err := cli.Grant(ctx, int64(max(ttl/time.Second, 1)))
	if err != nil {
		return false, fmt.Errorf("rebootlock: grant the holder lease: %w", err)
	}
	val, _ := json.Marshal(registry.RebootHolder{Machine: machine, Since: time.Now().UTC()})
	key := registry.RebootHolderKey(machine)
	resp, err := cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(registry.RebootMaxKey()), "=", maxRev),
		clientv3.Compare(clientv3.ModRevision(registry.RebootHoldersPrefix()), "<", rev+1).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
	).Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease.ID))).Commit()
	if err == nil && resp.Succeeded {
		return true, nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_, _ = cli.Revoke(rctx, lease.ID)
	cancel()
	if err != nil {
		return false, fmt.Errorf("rebootlock: take the reboot lock: %w", err)
	}
	return false, nil
}

// holderLease returns the lease of machine's holder key, or ErrNotHeld.
func holderLease(ctx context.Context, cli *clientv3.Client, machine string) (clientv3.LeaseID, error) {
	resp, err := cli.Get(ctx, registry.RebootHolderKey(machine))
	if err != nil {
		return 0, fmt.Errorf("rebootlock: read %s: %w", registry.RebootHolderKey(machine), err)
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotHeld
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease), nil
}

func keepAlive(ctx context.Context, cli *clientv3.Client, lease clientv3.LeaseID) error {
	if _, err := cli.KeepAliveOnce(ctx, lease); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return ErrNotHeld
		}
		return fmt.Errorf("rebootlock: renew the holder lease %x: %w", lease, err)
	}
	return nil
}

// Refresh renews machine's holder lease for another HolderTTL. Call it
// about every minute while holding the lock, and first thing on the boot
// that follows the reboot. ErrNotHeld means the slot is gone.
func Refresh(ctx context.Context, cli *clientv3.Client, machine string) error {
	lease, err := holderLease(ctx, cli, machine)
	if err != nil {
		return err
	}
	return keepAlive(ctx, cli, lease)
}

// Held reports whether machine holds a slot.
func Held(ctx context.Context, cli *clientv3.Client, machine string) (bool, error) {
	_, err := holderLease(ctx, cli, machine)
	if errors.Is(err, ErrNotHeld) {
		return false, nil
	}
	return err == nil, err
}

// Release gives machine's slot back by revoking its lease (which also
// drops a drain mark put on it). Releasing a slot not held is not an error.
func Release(ctx context.Context, cli *clientv3.Client, machine string) error {
	lease, err := holderLease(ctx, cli, machine)
	if errors.Is(err, ErrNotHeld) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("rebootlock: release the reboot lock of %s (revoke lease %x): %w", machine, lease, err)
	}
	return nil
}

// Holders lists who holds the lock, by machine ID.
func Holders(ctx context.Context, cli *clientv3.Client) ([]registry.RebootHolder, error) {
	resp, err := cli.Get(ctx, registry.RebootHoldersPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("rebootlock: read holders: %w", err)
	}
	out := make([]registry.RebootHolder, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var h registry.RebootHolder
		if json.Unmarshal(kv.Value, &h) != nil || h.Machine == "" {
			h = registry.RebootHolder{Machine: registry.RebootHolderMachine(string(kv.Key))}
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Machine < out[j].Machine })
	return out, nil
}
