package registry

import (
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/rollout"
)

// TestRevisionsAndRollouts runs against a real embedded etcd.
func TestRevisionsAndRollouts(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)

	t.Run("revisions keep the last ten, newest first", func(t *testing.T) {
		for i := range 12 {
			_, err := r.PutUnit(ctx(t), unitRecord(t, "a.service", fmt.Sprintf("[Service]\nExecStart=/bin/sleep %d\n", i)), TargetLaunched, true)
			must(t, err)
		}
		// Setting the desired state alone is no submit: no revision.
		must(t, r.SetDesired(ctx(t), "a.service", TargetLoaded))
		revs, err := r.Revisions(ctx(t), "a.service")
		must(t, err)
		cur, _, err := r.Unit(ctx(t), "a.service")
		must(t, err)
		if len(revs) != KeepRevisions || revs[0].Hash != cur.Hash {
			t.Fatalf("%d revisions, newest %.7s; want %d, newest the current %.7s", len(revs), revs[0].Hash, KeepRevisions, cur.Hash)
		}
		oldest := unitRecord(t, "a.service", "[Service]\nExecStart=/bin/sleep 0\n")
		if rev, err := r.FindRevision(ctx(t), "a.service", oldest.Hash[:7]); err != nil || rev != nil {
			t.Fatalf("the oldest revision is still kept: %v %v", rev, err)
		}
		if rev, err := r.FindRevision(ctx(t), "a.service", revs[3].Hash[:8]); err != nil || rev == nil || rev.Hash != revs[3].Hash {
			t.Fatalf("short hash: %v %v", rev, err)
		}
		must(t, r.MarkRevisionFailed(ctx(t), "a.service", revs[3].Hash, "x on m1: failed"))
		if rev, _ := r.FindRevision(ctx(t), "a.service", revs[3].Hash); rev.Failed == "" {
			t.Fatal("MarkRevisionFailed did not stick")
		}
	})

	t.Run("start, conflict, advance under the guard", func(t *testing.T) {
		u1 := unitRecord(t, "b.service", "[Service]\nExecStart=/bin/sleep 1\n")
		_, err := r.PutUnit(ctx(t), u1, TargetLaunched, false)
		must(t, err)
		u2 := unitRecord(t, "b.service", "[Service]\nExecStart=/bin/sleep 2\n")
		_, revs, err := r.UnitModRevisions(ctx(t), []string{"b.service"})
		must(t, err)
		ro := &rollout.Rollout{Name: "b.service", Units: map[string]rollout.Revs{"b.service": {From: u1.Hash, To: u2.Hash}},
			Items: []*rollout.Item{{Unit: "b.service", Phase: rollout.Pending}}, MaxUnavailable: 1, Deadline: time.Minute,
			State: rollout.Running, Created: time.Now()}
		stale := map[string]int64{"b.service": revs["b.service"] - 1}
		if err := r.StartRollout(ctx(t), ro, []*UnitRecord{u2}, stale); !errors.Is(err, ErrConflict) {
			t.Fatalf("start on a stale read: %v, want ErrConflict", err)
		}
		must(t, r.StartRollout(ctx(t), ro, []*UnitRecord{u2}, revs))
		if u, _, _ := r.Unit(ctx(t), "b.service"); u.Hash != u2.Hash {
			t.Fatal("the unit file was not replaced with the rollout")
		}
		_, revs, _ = r.UnitModRevisions(ctx(t), []string{"b.service"})
		if err := r.StartRollout(ctx(t), ro, []*UnitRecord{u1}, revs); !errors.Is(err, ErrRolloutActive) {
			t.Fatalf("second rollout of b.service: %v, want ErrRolloutActive", err)
		}
		snap, err := r.Snapshot(ctx(t))
		must(t, err)
		got := snap.Rollouts["b.service"]
		if got == nil || !got.Holds("b.service", "m1") {
			t.Fatalf("snapshot rollout %+v: want it holding b.service", got)
		}
		// Not the leader: a guard that fails writes nothing.
		notLeader := clientv3.Compare(clientv3.CreateRevision(ElectionPrefix+"nobody"), ">", 0)
		got.State = rollout.Reverted
		if err := r.AdvanceRollout(ctx(t), notLeader, got, snap.RolloutRevs["b.service"], []*UnitRecord{u1}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("advance without leadership: %v, want ErrNotLeader", err)
		}
		leader := clientv3.Compare(clientv3.CreateRevision(ElectionPrefix+"nobody"), "=", 0)
		if err := r.AdvanceRollout(ctx(t), leader, got, snap.RolloutRevs["b.service"]-1, nil); !errors.Is(err, ErrConflict) {
			t.Fatalf("advance on a stale read: %v, want ErrConflict", err)
		}
		must(t, r.AdvanceRollout(ctx(t), leader, got, snap.RolloutRevs["b.service"], []*UnitRecord{u1}))
		if u, _, _ := r.Unit(ctx(t), "b.service"); u.Hash != u1.Hash {
			t.Fatal("revert did not put the previous file back")
		}
		ro2, _, err := r.Rollout(ctx(t), "b.service")
		must(t, err)
		if ro2.State != rollout.Reverted {
			t.Fatalf("state %s", ro2.State)
		}
	})
}
