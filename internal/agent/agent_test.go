package agent_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/agent"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/simmgr"
)

// always is a guard that holds: these tests write placements as the engine would.
var always = clientv3.Compare(clientv3.CreateRevision("/nonexistent"), "=", 0)

func startAgent(t *testing.T, reg *registry.Registry, mgr unitmgr.Manager, ttl time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ag := agent.New(reg, mgr, agent.Config{Machine: registry.MachineRecord{ID: "m1", Name: "m1"}, TTL: ttl, Logf: t.Logf})
	wg.Go(func() { _ = ag.Run(ctx) })
}

func place(t *testing.T, reg *registry.Registry, name, target string) {
	t.Helper()
	f, err := unit.Parse(name, []byte("[Service]\nExecStart=/bin/true\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := &registry.Placement{Unit: name, Machine: "m1", Target: target, Hash: f.Hash(), Options: f.Options}
	if _, err := reg.Apply(context.Background(), always, []registry.Change{registry.PutPlacement(p)}); err != nil {
		t.Fatal(err)
	}
}

func waitActive(t *testing.T, mgr unitmgr.Manager, name, active string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := clustertest.Eventually(within, func() error {
		if st, _ := mgr.State(name); st.Active != active {
			return fmt.Errorf("%s is %q, want %q", name, st.Active, active)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestReportsOnlyChanges: once a unit's state is reported, an idle agent
// writes nothing more to etcd while its lease is renewed many times.
func TestReportsOnlyChanges(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := simmgr.New()
	startAgent(t, reg, mgr, time.Second) // renews every 200 ms
	place(t, reg, "a.service", registry.TargetLaunched)
	waitActive(t, mgr, "a.service", unitmgr.ActiveActive, 5*time.Second)
	if err := clustertest.Eventually(5*time.Second, func() error {
		sts, err := reg.States(context.Background())
		if err != nil || len(sts) != 1 || sts[0].State.Active != unitmgr.ActiveActive {
			return fmt.Errorf("states %v (%v)", sts, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := node.Client.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	before := resp.Header.Revision
	time.Sleep(2 * time.Second)
	resp, err = node.Client.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if d := resp.Header.Revision - before; d != 0 {
		t.Errorf("an idle agent made %d etcd writes in 2 s, want 0", d)
	}

	// A change is reported: stopping the unit is one more state write.
	place(t, reg, "a.service", registry.TargetLoaded)
	waitActive(t, mgr, "a.service", unitmgr.ActiveInactive, 5*time.Second)
	if err := clustertest.Eventually(5*time.Second, func() error {
		sts, err := reg.States(context.Background())
		if err != nil || len(sts) != 1 || sts[0].State.Active != unitmgr.ActiveInactive || sts[0].Applied != registry.TargetLoaded {
			return fmt.Errorf("states %v (%v)", sts, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestFencesWhenEtcdIsGone: when the agent cannot renew its lease it stops
// every local unit before the lease could expire.
func TestFencesWhenEtcdIsGone(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := simmgr.New()
	const ttl = 2 * time.Second
	startAgent(t, reg, mgr, ttl)
	place(t, reg, "f.service", registry.TargetLaunched)
	waitActive(t, mgr, "f.service", unitmgr.ActiveActive, 5*time.Second)
	node.Close() // etcd gone: no renewal can succeed
	took := waitActive(t, mgr, "f.service", unitmgr.ActiveInactive, 2*ttl)
	t.Logf("fenced %s after etcd went away (TTL %s)", took.Round(time.Millisecond), ttl)
	if took >= ttl {
		t.Errorf("fenced after %s, not before the %s lease could expire", took, ttl)
	}
}

// TestAdoptsUnitsOfTheManager: a fleetd restarted while init kept its units
// running keeps those still placed here (no restart) and unloads the others.
func TestAdoptsUnitsOfTheManager(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := simmgr.New()
	for _, name := range []string{"kept.service", "gone.service"} {
		f, err := unit.Parse(name, []byte("[Service]\nExecStart=/bin/true\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Load(name, f); err != nil {
			t.Fatal(err)
		}
		if err := mgr.Start(name); err != nil {
			t.Fatal(err)
		}
	}
	waitActive(t, mgr, "kept.service", unitmgr.ActiveActive, 5*time.Second)
	before, _ := mgr.State("kept.service")
	place(t, reg, "kept.service", registry.TargetLaunched)
	startAgent(t, reg, mgr, time.Second)
	if err := clustertest.Eventually(5*time.Second, func() error {
		if _, ok := mgr.State("gone.service"); ok {
			return fmt.Errorf("gone.service, placed nowhere, is still loaded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after, ok := mgr.State("kept.service")
	if !ok || after.Active != unitmgr.ActiveActive || !after.Since.Equal(before.Since) {
		t.Fatalf("kept.service was disturbed: before %+v, after %+v", before, after)
	}
}
