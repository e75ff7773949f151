package registry

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Guard is the condition every engine write is made under (Apply): the
// leader key's create revision, so a deposed leader cannot write. It is
// etcd's comparison type, named here so that callers need not import
// clientv3.
type Guard = clientv3.Cmp

// Term is one won campaign for the engine's leadership (under
// ElectionPrefix), held on a session lease of its own.
type Term struct {
	session  *concurrency.Session
	election *concurrency.Election
}

// Campaign waits until machine leads the engines, on a session lease of
// ttl (whole seconds, at least 1), or ctx ends.
func (r *Registry) Campaign(ctx context.Context, machine string, ttl time.Duration) (*Term, error) {
	session, err := concurrency.NewSession(r.cli, concurrency.WithTTL(int(leaseSeconds(ttl))), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("registry: election session: %w", err)
	}
	election := concurrency.NewElection(session, ElectionPrefix)
	if err := election.Campaign(ctx, machine); err != nil {
		session.Close()
		return nil, fmt.Errorf("registry: campaign of %s: %w", machine, err)
	}
	return &Term{session: session, election: election}, nil
}

// Guard holds while this term's leader key exists.
func (t *Term) Guard() Guard {
	return clientv3.Compare(clientv3.CreateRevision(t.election.Key()), "=", t.election.Rev())
}

// Done is closed when the session lease is lost.
func (t *Term) Done() <-chan struct{} { return t.session.Done() }

// Resign gives the leadership up so the next engine need not wait out the
// session lease.
func (t *Term) Resign(ctx context.Context) error {
	if err := t.election.Resign(ctx); err != nil {
		return fmt.Errorf("registry: resign: %w", err)
	}
	return nil
}

// Close ends the session (revoking its lease).
func (t *Term) Close() { t.session.Close() }
