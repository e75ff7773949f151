package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaseID names an etcd lease. It is etcd's own type, named here so that
// callers need not import clientv3.
type LeaseID = clientv3.LeaseID

// ErrLeaseNotFound: the lease expired or was revoked.
var ErrLeaseNotFound = errors.New("registry: lease not found (expired or revoked)")

// leaseSeconds is the TTL etcd is asked for: whole seconds, at least one.
func leaseSeconds(ttl time.Duration) int64 { return int64(max(ttl/time.Second, 1)) }

// Grant creates a lease of ttl, rounded down to whole seconds (at least 1).
func (r *Registry) Grant(ctx context.Context, ttl time.Duration) (LeaseID, error) {
	resp, err := r.cli.Grant(ctx, leaseSeconds(ttl))
	if err != nil {
		return 0, fmt.Errorf("registry: grant a lease of %s: %w", ttl, err)
	}
	return resp.ID, nil
}

// RenewOnce sends one renewal of the lease and waits for its answer (or
// ctx). It is a single request: the caller decides how often to send them
// and whether they may overlap. A lease that is gone gives ErrLeaseNotFound.
func (r *Registry) RenewOnce(ctx context.Context, lease LeaseID) error {
	if _, err := r.cli.KeepAliveOnce(ctx, lease); err != nil {
		return fmt.Errorf("registry: renew lease %x: %w", lease, leaseErr(err))
	}
	return nil
}

// Revoke ends the lease now, deleting every key on it. A lease that is
// already gone gives ErrLeaseNotFound.
func (r *Registry) Revoke(ctx context.Context, lease LeaseID) error {
	if _, err := r.cli.Revoke(ctx, lease); err != nil {
		return fmt.Errorf("registry: revoke lease %x: %w", lease, leaseErr(err))
	}
	return nil
}

// leaseErr turns etcd's lease-not-found into ErrLeaseNotFound.
func leaseErr(err error) error {
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return ErrLeaseNotFound
	}
	return err
}

// RevokeMachine revokes the lease a machine is registered on, so its
// record and unit states go at once instead of after the TTL. A machine
// not registered is not an error.
func (r *Registry) RevokeMachine(ctx context.Context, machine string) error {
	resp, err := r.cli.Get(ctx, machinesDir+machine)
	if err != nil {
		return fmt.Errorf("registry: read machine %s: %w", machine, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].Lease == 0 {
		return nil
	}
	if err := r.Revoke(ctx, LeaseID(resp.Kvs[0].Lease)); err != nil && !errors.Is(err, ErrLeaseNotFound) {
		return fmt.Errorf("registry: unregister machine %s: %w", machine, err)
	}
	return nil
}

// healthKey is read to prove etcd serves linearizable reads (a quorum and
// a leader). It is never written; it lies outside Prefix, as etcd's own
// health check reads it.
const healthKey = "health"

// Health is nil when etcd answers a linearizable read.
func (r *Registry) Health(ctx context.Context) error {
	if _, err := r.cli.Get(ctx, healthKey); err != nil {
		return fmt.Errorf("registry: read %q: %w", healthKey, err)
	}
	return nil
}
