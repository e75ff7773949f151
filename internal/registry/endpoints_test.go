package registry

import (
	"context"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// TestEndpoints writes endpoints on a lease, reads them back, follows them
// by watch, and sees them vanish with the lease, on a real etcd.
func TestEndpoints(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)
	c := ctx(t)
	lease, err := r.Grant(c, 5*time.Second)
	must(t, err)
	must(t, r.WriteEndpoints(c, "m1", lease, []EndpointWrite{
		{Unit: "db.service", Endpoint: &Endpoint{Unit: "db.service", Machine: "m1", MachineAddr: "10.0.0.1", Addr: "10.88.0.2",
			Ports: []Port{{HostPort: 5432, ContainerPort: 5432, Protocol: "tcp"}}}},
	}))
	eps, rev, err := r.Endpoints(c)
	must(t, err)
	if e := eps[EndpointKey("m1", "db.service")]; len(eps) != 1 || e == nil || e.Addr != "10.88.0.2" || len(e.Ports) != 1 || e.Ports[0].HostPort != 5432 {
		t.Fatalf("endpoints %+v", eps)
	}

	wctx, cancel := context.WithCancel(c)
	defer cancel()
	got := make(chan EndpointEvent, 100)
	done := make(chan error, 1)
	go func() {
		done <- r.WatchEndpoints(wctx, rev+1, func(evs []EndpointEvent) {
			for _, ev := range evs {
				got <- ev
			}
		})
	}()
	next := func() EndpointEvent {
		t.Helper()
		select {
		case ev := <-got:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no endpoint event within 5 s")
			return EndpointEvent{}
		}
	}
	// More changes than one transaction holds.
	var ws []EndpointWrite
	for i := range TxnOps + 1 {
		name := "w" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".service"
		ws = append(ws, EndpointWrite{Unit: name, Endpoint: &Endpoint{Unit: name, Machine: "m1", MachineAddr: "10.0.0.1"}})
	}
	must(t, r.WriteEndpoints(c, "m1", lease, ws))
	for range ws {
		if ev := next(); ev.Endpoint == nil || ev.Key != EndpointKey("m1", ev.Endpoint.Unit) {
			t.Fatalf("event %+v", ev)
		}
	}
	must(t, r.WriteEndpoints(c, "m1", lease, []EndpointWrite{{Unit: "db.service"}}))
	if ev := next(); ev.Key != "m1/db.service" || ev.Endpoint != nil {
		t.Fatalf("delete event %+v", ev)
	}
	// A dead machine's endpoints go with its lease: one delete each.
	must(t, r.Revoke(c, lease))
	for range ws {
		if ev := next(); ev.Endpoint != nil {
			t.Fatalf("after revoke: %+v", ev)
		}
	}
	if eps, _, _ := r.Endpoints(c); len(eps) != 0 {
		t.Fatalf("%d endpoints outlive their lease", len(eps))
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("watch ended with %v", err)
	}
}
