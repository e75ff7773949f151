package agent_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/agent"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

// healthManager is the simulated manager with a health verdict and a
// bridge address on every unit, changed by the test.
type healthManager struct {
	*sim.Manager
	health atomic.Value // string
	ch     chan string
}

func newHealthManager() *healthManager {
	m := &healthManager{Manager: sim.New(), ch: make(chan string, 64)}
	m.health.Store("")
	go func() {
		for name := range m.Manager.Changes() {
			m.ch <- name
		}
	}()
	return m
}

func (m *healthManager) Changes() <-chan string { return m.ch }

func (m *healthManager) State(name string) (unit.State, bool) {
	st, ok := m.Manager.State(name)
	st.Health = m.health.Load().(string)
	st.Addr = "10.88.0.7"
	return st, ok
}

func (m *healthManager) setHealth(name, h string) {
	m.health.Store(h)
	m.ch <- name
}

// TestPublishesEndpoints: an active unit's endpoint appears with the
// machine's address, the unit's address, its published ports and health;
// a health change rewrites it; an idle agent writes nothing; stopping the
// unit removes it.
func TestPublishesEndpoints(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := newHealthManager()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	ag := agent.New(reg, mgr, agent.Config{Machine: registry.MachineRecord{ID: "m1", Name: "m1", PublicIP: "192.0.2.1"}, TTL: time.Second, Logf: t.Logf})
	wg.Go(func() { _ = ag.Run(ctx) })

	f, err := unit.Parse("web.service", []byte("[Container]\nImage=busybox\nPublishPort=8080:80\nPublishPort=5353:53/udp\n"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(target string) {
		p := &registry.Placement{Unit: "web.service", Machine: "m1", Target: target, Hash: f.Hash(), Options: f.Options}
		if _, err := reg.Apply(context.Background(), always, []registry.Change{registry.PutPlacement(p)}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(check func(*registry.Endpoint) error) {
		t.Helper()
		if err := testutil.Eventually(5*time.Second, func() error {
			eps, _, err := reg.Endpoints(context.Background())
			if err != nil {
				return err
			}
			return check(eps[registry.EndpointKey("m1", "web.service")])
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(registry.TargetLaunched)
	want(func(e *registry.Endpoint) error {
		if e == nil || e.MachineAddr != "192.0.2.1" || e.Addr != "10.88.0.7" || e.Health != "" || len(e.Ports) != 2 ||
			e.Ports[0] != (registry.Port{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}) ||
			e.Ports[1] != (registry.Port{HostPort: 5353, ContainerPort: 53, Protocol: "udp"}) {
			return fmt.Errorf("endpoint %+v", e)
		}
		return nil
	})
	mgr.setHealth("web.service", "unhealthy")
	want(func(e *registry.Endpoint) error {
		if e == nil || e.Health != "unhealthy" {
			return fmt.Errorf("endpoint %+v, want unhealthy", e)
		}
		return nil
	})

	// Idle: the lease is renewed five times a second, nothing is written.
	time.Sleep(200 * time.Millisecond)
	rev := func() int64 {
		resp, err := node.Client.Get(context.Background(), "x")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	before := rev()
	time.Sleep(1500 * time.Millisecond)
	if d := rev() - before; d != 0 {
		t.Errorf("an idle agent made %d etcd writes in 1.5 s, want 0", d)
	}

	put(registry.TargetLoaded)
	want(func(e *registry.Endpoint) error {
		if e != nil {
			return fmt.Errorf("endpoint %+v of a stopped unit", e)
		}
		return nil
	})
}
