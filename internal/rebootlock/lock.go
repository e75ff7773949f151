package rebootlock

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
	l, err := registry.New(cli).ReadRebootLock(ctx)
	if err != nil {
		return 0, fmt.Errorf("rebootlock: %w", err)
	}
	return parseMax(l)
}

func parseMax(l *registry.RebootLock) (int, error) {
	if l.MaxRev == 0 {
		return DefaultMax, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(l.Max))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("rebootlock: %s holds %q, not a count: fix it with `updater set-max N`", registry.RebootMaxKey(), l.Max)
	}
	return n, nil
}

// SetMax sets how many machines may hold the lock at once. 0 stops every
// new reboot (holders keep their slots); it is how an operator pauses
// rolling updates.
func SetMax(ctx context.Context, cli *clientv3.Client, n int) error {
	if n < 0 {
		return fmt.Errorf("rebootlock: max %d: want 0 (pause reboots) or more", n)
	}
	if err := registry.New(cli).SetRebootMax(ctx, n); err != nil {
		return fmt.Errorf("rebootlock: %w", err)
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
	reg := registry.New(cli)
attempt:
	for range 20 {
		l, err := reg.ReadRebootLock(ctx)
		if err != nil {
			return false, fmt.Errorf("rebootlock: %w", err)
		}
		max, err := parseMax(l)
		if err != nil {
			return false, err
		}
		for _, h := range l.Holders {
			if h.Machine == machine {
				if err := keepAlive(ctx, reg, h.Lease); err != nil {
					if errors.Is(err, ErrNotHeld) {
						continue attempt // expired just now: try again
					}
					return false, err
				}
				return true, nil
			}
		}
		if len(l.Holders) >= max {
			return false, nil
		}
		won, err := tryTake(ctx, reg, machine, ttl, l)
		if err != nil || won {
			return won, err
		}
	}
	return false, fmt.Errorf("rebootlock: %s: the lock kept changing while taking it; try again", machine)
}

// tryTake puts the holder key if nothing changed since l was read.
func tryTake(ctx context.Context, reg *registry.Registry, machine string, ttl time.Duration, l *registry.RebootLock) (bool, error) {
	lease, err := reg.Grant(ctx, ttl)
	if err != nil {
		return false, fmt.Errorf("rebootlock: the holder lease: %w", err)
	}
	won, err := reg.TakeRebootSlot(ctx, l, registry.RebootHolder{Machine: machine, Since: time.Now().UTC()}, lease)
	if err == nil && won {
		return true, nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = reg.Revoke(rctx, lease)
	cancel()
	if err != nil {
		return false, fmt.Errorf("rebootlock: %w", err)
	}
	return false, nil
}

// holderLease returns the lease of machine's holder key, or ErrNotHeld.
func holderLease(ctx context.Context, reg *registry.Registry, machine string) (registry.LeaseID, error) {
	s, ok, err := reg.RebootSlot(ctx, machine)
	if err != nil {
		return 0, fmt.Errorf("rebootlock: %w", err)
	}
	if !ok {
		return 0, ErrNotHeld
	}
	return s.Lease, nil
}

func keepAlive(ctx context.Context, reg *registry.Registry, lease registry.LeaseID) error {
	if err := reg.RenewOnce(ctx, lease); err != nil {
		if errors.Is(err, registry.ErrLeaseNotFound) {
			return ErrNotHeld
		}
		return fmt.Errorf("rebootlock: the holder lease: %w", err)
	}
	return nil
}

// Refresh renews machine's holder lease for another HolderTTL. Call it
// about every minute while holding the lock, and first thing on the boot
// that follows the reboot. ErrNotHeld means the slot is gone.
func Refresh(ctx context.Context, cli *clientv3.Client, machine string) error {
	reg := registry.New(cli)
	lease, err := holderLease(ctx, reg, machine)
	if err != nil {
		return err
	}
	return keepAlive(ctx, reg, lease)
}

// Held reports whether machine holds a slot.
func Held(ctx context.Context, cli *clientv3.Client, machine string) (bool, error) {
	_, err := holderLease(ctx, registry.New(cli), machine)
	if errors.Is(err, ErrNotHeld) {
		return false, nil
	}
	return err == nil, err
}

// Release gives machine's slot back by revoking its lease (which also
// drops a drain mark put on it). Releasing a slot not held is not an error.
func Release(ctx context.Context, cli *clientv3.Client, machine string) error {
	reg := registry.New(cli)
	lease, err := holderLease(ctx, reg, machine)
	if errors.Is(err, ErrNotHeld) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := reg.Revoke(ctx, lease); err != nil && !errors.Is(err, registry.ErrLeaseNotFound) {
		return fmt.Errorf("rebootlock: release the reboot lock of %s: %w", machine, err)
	}
	return nil
}

// Holders lists who holds the lock, by machine ID.
func Holders(ctx context.Context, cli *clientv3.Client) ([]registry.RebootHolder, error) {
	l, err := registry.New(cli).ReadRebootLock(ctx)
	if err != nil {
		return nil, fmt.Errorf("rebootlock: %w", err)
	}
	out := make([]registry.RebootHolder, 0, len(l.Holders))
	for _, h := range l.Holders {
		out = append(out, h.RebootHolder)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Machine < out[j].Machine })
	return out, nil
}
