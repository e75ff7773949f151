package rebootlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// DrainTimeout bounds Drain: past it, the caller logs the error and reboots
// anyway (the units then move when the machine's lease expires).
const DrainTimeout = 2 * time.Minute

// Drain marks machine draining, so the engine moves its units elsewhere
// and places nothing new on it (the same handoffs as fleetctl drain: a
// unit that may run twice starts elsewhere before it stops here; see
// package engine), and waits (at most DrainTimeout, or until
// ctx ends) until none of its non-global units is placed or reported there
// any more. Global units stay. While the machine holds the reboot lock, the
// mark is put on the holder's lease, so it goes with a lost lock.
func Drain(ctx context.Context, cli *clientv3.Client, machine string) error {
	reg := registry.New(cli)
	lease, err := holderLease(ctx, reg, machine)
	if err != nil && !errors.Is(err, ErrNotHeld) {
		return err
	}
	if err := reg.SetDraining(ctx, machine, lease); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, DrainTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// The deadline can cut a read short: the message names what the last
	// complete read found, and only a drain that never read says why.
	var left []string
	var lastErr error
	for read := false; ; {
		now, err := reg.DrainLeft(dctx, machine)
		if err == nil {
			if len(now) == 0 {
				return nil
			}
			left, read = now, true
		} else {
			lastErr = err
		}
		select {
		case <-dctx.Done():
			if !read {
				return fmt.Errorf("rebootlock: drain %s: %w", machine, lastErr)
			}
			return fmt.Errorf("rebootlock: drain %s: %d units still here when giving up: %s", machine, len(left), strings.Join(left, ", "))
		case <-tick.C:
		}
	}
}

// Undrain lets the engine place units on machine again; the updater calls
// it once the new boot is healthy.
func Undrain(ctx context.Context, cli *clientv3.Client, machine string) error {
	return registry.New(cli).ClearDraining(ctx, machine)
}

// SetStatus publishes the updater's state for machine (shown as its UPDATE
// field by fleetctl list-machines).
func SetStatus(ctx context.Context, cli *clientv3.Client, machine, state string) error {
	return registry.New(cli).SetUpdateStatus(ctx, machine, state)
}
