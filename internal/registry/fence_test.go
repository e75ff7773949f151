package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// TestFenceDeadMachine: the machine registered under a name loses its
// lease (record gone, renewals refused) and is marked fenced for at least
// the hold; a second fencer finds it by its mark; an unknown name is no
// error and fences nothing.
func TestFenceDeadMachine(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lease, err := r.Grant(c, 10*time.Second)
	must(t, err)
	must(t, r.RegisterMachine(c, &MachineRecord{ID: "m1", Name: "one"}, lease))
	other, err := r.Grant(c, 10*time.Second)
	must(t, err)
	must(t, r.RegisterMachine(c, &MachineRecord{ID: "m2", Name: "two"}, other))

	// m1's engine leads; m2's waits behind it.
	t1, err := r.Campaign(c, "m1", 10*time.Second)
	must(t, err)
	defer t1.Close()
	won := make(chan *Term, 1)
	go func() {
		t2, err := r.Campaign(c, "m2", 10*time.Second)
		if err == nil {
			won <- t2
		}
	}()

	const hold = 1500 * time.Millisecond
	id, err := r.FenceDeadMachine(c, "one", hold)
	must(t, err)
	revoked := time.Now()
	if id != "m1" {
		t.Fatalf("fenced %q, want m1", id)
	}
	ms, err := r.Machines(c)
	must(t, err)
	if len(ms) != 1 || ms[0].ID != "m2" {
		t.Fatalf("machines after fencing m1: %+v", ms)
	}
	if err := r.RenewOnce(c, lease); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("renewing the fenced lease: %v, want ErrLeaseNotFound", err)
	}
	// The dead machine's engine session ended with it: m2's engine leads
	// now, not when that session's lease would have run out.
	select {
	case t2 := <-won:
		defer t2.Close()
	case <-time.After(3 * time.Second):
		t.Fatal("m2's engine did not take the lead after m1 was fenced")
	}
	if id, err := r.FenceDeadMachine(c, "one", hold); id != "m1" || err != nil {
		t.Fatalf("second fencer: %q, %v; want m1 from the mark", id, err)
	}
	if id, err := r.FenceDeadMachine(c, "nobody", hold); id != "" || err != nil {
		t.Fatalf("unknown name: %q, %v", id, err)
	}
	for {
		f, err := r.Fenced(c)
		must(t, err)
		if !f["m1"] {
			break
		}
		if f["m2"] {
			t.Fatalf("fenced %v: m2 was never fenced", f)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(revoked); took < hold {
		t.Fatalf("mark gone %s after the revoke, before the hold of %s", took, hold)
	}
}
