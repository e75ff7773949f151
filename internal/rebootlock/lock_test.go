package rebootlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/registry"
)

func etcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	return newEtcd(t).Client
}

func newEtcd(t *testing.T) *etcdnode.Node {
	t.Helper()
	return clustertest.Etcd(t)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func holderIDs(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	hs, err := Holders(ctxT(t), cli)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.Machine)
	}
	return ids
}

func TestMaxDefaultsAndValidates(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	if n, err := Max(ctx, cli); err != nil || n != DefaultMax {
		t.Fatalf("Max of a new cluster = %d, %v; want %d", n, err, DefaultMax)
	}
	if err := SetMax(ctx, cli, -1); err == nil {
		t.Error("SetMax(-1) accepted")
	}
	if err := SetMax(ctx, cli, 3); err != nil {
		t.Fatal(err)
	}
	if n, _ := Max(ctx, cli); n != 3 {
		t.Errorf("Max = %d after SetMax(3)", n)
	}
	cli.Put(ctx, registry.RebootMaxKey(), "lots")
	_, err := Max(ctx, cli)
	if err == nil || !strings.Contains(err.Error(), `holds "lots"`) || !strings.Contains(err.Error(), "set-max") {
		t.Errorf("corrupt max: %v", err)
	}
	if _, err := Acquire(ctx, cli, "m1"); err == nil {
		t.Error("Acquire with a corrupt max succeeded")
	}
}

func TestAcquireRelease(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	if held, err := Acquire(ctx, cli, "m1"); !held || err != nil {
		t.Fatalf("first Acquire = %v, %v", held, err)
	}
	if held, err := Acquire(ctx, cli, "m1"); !held || err != nil {
		t.Fatalf("Acquire again by the holder = %v, %v; want held", held, err)
	}
	if held, err := Acquire(ctx, cli, "m2"); held || err != nil {
		t.Fatalf("second machine with max 1 = %v, %v; want not held", held, err)
	}
	if got := holderIDs(t, cli); fmt.Sprint(got) != "[m1]" {
		t.Errorf("holders = %v", got)
	}
	hs, _ := Holders(ctx, cli)
	if time.Since(hs[0].Since) > time.Minute {
		t.Errorf("holder since %v", hs[0].Since)
	}
	// The holder's lease is its own, with HolderTTL.
	resp, _ := cli.Get(ctx, registry.RebootHolderKey("m1"))
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttl.TTL < int64(HolderTTL/time.Second)-60 {
		t.Errorf("holder lease TTL = %v, %v; want about %s", ttl, err, HolderTTL)
	}
	if err := Release(ctx, cli, "m2"); err != nil {
		t.Errorf("Release by a non-holder: %v", err)
	}
	if err := Release(ctx, cli, "m1"); err != nil {
		t.Fatal(err)
	}
	if held, _ := Held(ctx, cli, "m1"); held {
		t.Error("m1 still holds after Release")
	}
	if err := Refresh(ctx, cli, "m1"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Refresh after Release = %v, want ErrNotHeld", err)
	}
	if held, err := Acquire(ctx, cli, "m2"); !held || err != nil {
		t.Fatalf("m2 after m1 released = %v, %v", held, err)
	}
	if _, err := Acquire(ctx, cli, "a/b"); err == nil {
		t.Error("machine ID with a slash accepted")
	}
}

// TestConcurrentAcquire: many machines race, rounds after rounds; never
// more than max hold at once, and every round fills the semaphore.
func TestConcurrentAcquire(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	for _, max := range []int{1, 2, 3} {
		if err := SetMax(ctx, cli, max); err != nil {
			t.Fatal(err)
		}
		for round := range 5 {
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []string
			for i := range 8 {
				id := fmt.Sprintf("m%d", i)
				wg.Go(func() {
					held, err := Acquire(ctx, cli, id)
					if err != nil {
						t.Error(err)
					}
					if held {
						mu.Lock()
						won = append(won, id)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			holders := holderIDs(t, cli)
			if len(won) != max || len(holders) != max {
				t.Fatalf("max %d round %d: %d won (%v), holders %v", max, round, len(won), won, holders)
			}
			for _, id := range won {
				if err := Release(ctx, cli, id); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestLockLostWithLease: a holder that stops renewing (died) loses its slot
// when its lease expires; one that keeps refreshing does not.
func TestLockLostWithLease(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	if err := SetMax(ctx, cli, 2); err != nil {
		t.Fatal(err)
	}
	if held, err := AcquireTTL(ctx, cli, "dead", 2*time.Second); !held || err != nil {
		t.Fatalf("Acquire = %v, %v", held, err)
	}
	if held, err := AcquireTTL(ctx, cli, "alive", 2*time.Second); !held || err != nil {
		t.Fatalf("Acquire = %v, %v", held, err)
	}
	if err := Drain(ctx, cli, "dead"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := Refresh(ctx, cli, "alive"); err != nil {
			t.Fatalf("Refresh of a live holder: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := holderIDs(t, cli); fmt.Sprint(got) != "[alive]" {
		t.Errorf("holders after the lease of 'dead' expired = %v, want [alive]", got)
	}
	d, _ := registry.New(cli).Draining(ctx)
	if d["dead"] {
		t.Error("the drain mark outlived the lost lock")
	}
	if held, _ := Acquire(ctx, cli, "next"); !held {
		t.Error("the expired slot was not free")
	}
}

func TestStatus(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	reg := registry.New(cli)
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterMachine(ctx, &registry.MachineRecord{ID: "m1", Version: "1.0.0"}, lease.ID); err != nil {
		t.Fatal(err)
	}
	if err := SetStatus(ctx, cli, "m1", "downloading 42%"); err != nil {
		t.Fatal(err)
	}
	SetStatus(ctx, cli, "gone", "staged") // no machine: not listed
	ms, err := reg.Machines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Update != "downloading 42%" || ms[0].Version != "1.0.0" {
		t.Fatalf("machines = %+v, %v", ms, err)
	}
}
