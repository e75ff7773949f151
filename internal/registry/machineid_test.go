package registry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// TestMachineIDClaim: a second machine with the first's ID is refused with
// both named, atomically and without touching the first's record; the same
// machine re-registering (a restarted fleetd) takes its record over; a
// record of another machine that expires is waited out.
func TestMachineIDClaim(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)
	const id = "0123456789abcdef0123456789abcdef"
	first := MachineRecord{ID: id, Name: "alpha", PublicIP: "10.0.0.1", APIURL: "https://10.0.0.1:4001"}
	clone := MachineRecord{ID: id, Name: "beta", PublicIP: "10.0.0.2", APIURL: "https://10.0.0.2:4001"}

	l1, err := r.Grant(ctx(t), 10*time.Second)
	must(t, err)
	must(t, r.ClaimMachine(ctx(t), &first, l1))

	l2, err := r.Grant(ctx(t), 10*time.Second)
	must(t, err)
	err = r.ClaimMachine(ctx(t), &clone, l2)
	var conflict *MachineIDConflict
	if !errors.As(err, &conflict) || !errors.Is(err, ErrMachineIDTaken) {
		t.Fatalf("clone's claim: %v, want a MachineIDConflict", err)
	}
	for _, want := range []string{id, `name "alpha", IP 10.0.0.1`, `name "beta", IP 10.0.0.2`, "https://10.0.0.2:4001"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict message %q does not name %q", err, want)
		}
	}
	ms, err := r.Machines(ctx(t))
	must(t, err)
	if len(ms) != 1 || ms[0].Name != "alpha" {
		t.Fatalf("machines after a refused clone: %+v", ms)
	}
	// The check before joining waits, then refuses too.
	start := time.Now()
	err = r.CheckMachineID(ctx(t), clone, 300*time.Millisecond)
	if !errors.Is(err, ErrMachineIDTaken) || time.Since(start) < 300*time.Millisecond {
		t.Errorf("CheckMachineID of a live clone: %v after %v", err, time.Since(start))
	}
	// The same machine on a new lease takes its record over.
	l3, err := r.Grant(ctx(t), 10*time.Second)
	must(t, err)
	if err := r.CheckMachineID(ctx(t), first, time.Second); err != nil {
		t.Errorf("CheckMachineID of the same machine: %v", err)
	}
	must(t, r.ClaimMachine(ctx(t), &first, l3))
	// A record that goes away while the check waits is no conflict.
	go func() {
		time.Sleep(200 * time.Millisecond)
		_ = r.Revoke(ctx(t), l3)
	}()
	if err := r.CheckMachineID(ctx(t), clone, 5*time.Second); err != nil {
		t.Errorf("CheckMachineID while the old record expires: %v", err)
	}
	must(t, r.ClaimMachine(ctx(t), &clone, l2))
}
