package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/unit"
)

const revisionsDir = Prefix + "revisions/"

// KeepRevisions is how many revisions of a unit are kept.
const KeepRevisions = 10

// Revision is one unit file a unit has had, kept for history and rollback.
type Revision struct {
	Hash    string        `json:"hash"`
	Time    time.Time     `json:"time"` // when it was submitted
	Options []unit.Option `json:"options"`
	// Failed says why a rollout to it was reverted; rollback without a
	// hash skips it. Submitting it again clears it.
	Failed string `json:"failed,omitempty"`
}

func revisionKey(name, hash string) string { return revisionsDir + name + "/" + hash }

// opPutRevision records u as a revision of itself, submitted now.
func opPutRevision(u *UnitRecord) clientv3.Op {
	v, _ := json.Marshal(&Revision{Hash: u.Hash, Time: time.Now().UTC(), Options: u.Options})
	return clientv3.OpPut(revisionKey(u.Name, u.Hash), string(v))
}

// Revisions lists a unit's kept revisions, newest first.
func (r *Registry) Revisions(ctx context.Context, name string) ([]*Revision, error) {
	resp, err := r.cli.Get(ctx, revisionsDir+name+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registry: revisions of %s: %w", name, err)
	}
	var out []*Revision
	for _, kv := range resp.Kvs {
		var rev Revision
		if json.Unmarshal(kv.Value, &rev) == nil {
			out = append(out, &rev)
		}
	}
	slices.SortFunc(out, func(a, b *Revision) int { return b.Time.Compare(a.Time) })
	return out, nil
}

// FindRevision returns the kept revision of name whose hash is or starts
// with prefix (at least 7 characters, as git's short hashes), or nil.
func (r *Registry) FindRevision(ctx context.Context, name, prefix string) (*Revision, error) {
	revs, err := r.Revisions(ctx, name)
	if err != nil {
		return nil, err
	}
	var found *Revision
	for _, rev := range revs {
		if rev.Hash == prefix || (len(prefix) >= 7 && strings.HasPrefix(rev.Hash, prefix)) {
			if found != nil && found.Hash != rev.Hash {
				return nil, fmt.Errorf("registry: revision %s of %s is ambiguous: give more of the hash", prefix, name)
			}
			found = rev
		}
	}
	return found, nil
}

// pruneRevisions deletes all but the newest KeepRevisions revisions of name.
func (r *Registry) pruneRevisions(ctx context.Context, name string) error {
	revs, err := r.Revisions(ctx, name)
	if err != nil || len(revs) <= KeepRevisions {
		return err
	}
	ops := make([]clientv3.Op, 0, len(revs)-KeepRevisions)
	for _, rev := range revs[KeepRevisions:] {
		ops = append(ops, clientv3.OpDelete(revisionKey(name, rev.Hash)))
	}
	if _, err := r.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("registry: prune revisions of %s: %w", name, err)
	}
	return nil
}

// MarkRevisionFailed notes on a kept revision that a rollout to it failed.
// A revision no longer kept is left alone.
func (r *Registry) MarkRevisionFailed(ctx context.Context, name, hash, reason string) error {
	key := revisionKey(name, hash)
	resp, err := r.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return err
	}
	var rev Revision
	if err := json.Unmarshal(resp.Kvs[0].Value, &rev); err != nil {
		return fmt.Errorf("registry: stored revision %s of %s is corrupt: %w", hash, name, err)
	}
	rev.Failed = reason
	v, err := json.Marshal(&rev)
	if err != nil {
		return err
	}
	_, err = r.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, string(v))).Commit()
	return err
}
