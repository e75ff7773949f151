package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// These tests run the registry against a real embedded etcd (one member,
// mutual TLS, as fleetd runs it), one etcd for every subtest; each subtest
// starts from an empty Prefix.
func TestRegistry(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *Registry)
	}{
		{"units", testUnits},
		{"machines", testMachines},
		{"placements", testPlacements},
		{"states", testStates},
		{"leases", testLeases},
		{"watch placements", testWatchPlacements},
		{"watch engine", testWatchEngine},
		{"election", testElection},
		{"reboot lock", testRebootLock},
		{"draining", testDraining},
		{"health", testHealth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := node.Client.Delete(ctx(t), Prefix, clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
			tc.fn(t, r)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func unitRecord(t *testing.T, name, body string) *UnitRecord {
	t.Helper()
	f, err := unit.Parse(name, []byte(body))
	must(t, err)
	return &UnitRecord{Name: name, Hash: f.Hash(), Options: f.Options}
}

// always is a guard that holds: the tests write placements as the engine would.
var always = clientv3.Compare(clientv3.CreateRevision(Prefix+"nonexistent"), "=", 0)

func testUnits(t *testing.T, r *Registry) {
	c := ctx(t)
	a := unitRecord(t, "a.service", "[Service]\nExecStart=/bin/true\n")
	b := unitRecord(t, "a.service", "[Service]\nExecStart=/bin/false\n")
	created, err := r.PutUnit(c, a, TargetLaunched, false)
	if err != nil || !created {
		t.Fatalf("first put: created %v, %v", created, err)
	}
	if created, err := r.PutUnit(c, a, TargetLoaded, false); err != nil || created {
		t.Fatalf("identical put: created %v, %v; want only the desired state set", created, err)
	}
	if _, err := r.PutUnit(c, b, TargetLaunched, false); !errors.Is(err, ErrUnitExists) {
		t.Fatalf("different unit without replace: %v, want ErrUnitExists", err)
	}
	u, desired, err := r.Unit(c, "a.service")
	must(t, err)
	if u.Hash != a.Hash || desired != TargetLoaded {
		t.Fatalf("after refused replace: hash %.7s desired %s, want %.7s loaded", u.Hash, desired, a.Hash)
	}
	if _, err := r.PutUnit(c, b, TargetLaunched, true); err != nil {
		t.Fatal(err)
	}
	if u, _, _ := r.Unit(c, "a.service"); u.Hash != b.Hash {
		t.Fatalf("replace kept hash %.7s", u.Hash)
	}
	if _, err := r.PutUnit(c, a, "running", false); err == nil {
		t.Fatal("desired state running accepted")
	}
	must(t, r.SetDesired(c, "a.service", TargetInactive))
	if err := r.SetDesired(c, "nope.service", TargetLaunched); !errors.Is(err, ErrUnitNotFound) {
		t.Fatalf("SetDesired of a missing unit: %v, want ErrUnitNotFound", err)
	}
	must(t, r.DestroyUnit(c, "a.service"))
	if err := r.DestroyUnit(c, "a.service"); !errors.Is(err, ErrUnitNotFound) {
		t.Fatalf("second destroy: %v, want ErrUnitNotFound", err)
	}
	if u, _, err := r.Unit(c, "a.service"); u != nil || err != nil {
		t.Fatalf("destroyed unit reads %v, %v", u, err)
	}
}

func testMachines(t *testing.T, r *Registry) {
	c := ctx(t)
	lease, err := r.Grant(c, 5*time.Second)
	must(t, err)
	must(t, r.RegisterMachine(c, &MachineRecord{ID: "m1", Name: "one", Metadata: map[string]string{"disk": "ssd"}}, lease))
	must(t, r.SetUpdateStatus(c, "m1", "idle"))
	must(t, r.SetUpdateStatus(c, "gone", "rebooting")) // no machine record: not listed
	ms, err := r.Machines(c)
	must(t, err)
	if len(ms) != 1 || ms[0].ID != "m1" || ms[0].Update != "idle" || ms[0].Metadata["disk"] != "ssd" {
		t.Fatalf("machines: %+v", ms)
	}
	if s, err := r.UpdateStatus(c, "m1"); s != "idle" || err != nil {
		t.Fatalf("update status: %q, %v", s, err)
	}
	if s, err := r.UpdateStatus(c, "m2"); s != "" || err != nil {
		t.Fatalf("update status never written: %q, %v", s, err)
	}
	// The updater's second line is the root's dm-verity state.
	must(t, r.SetUpdateStatus(c, "m1", "blessed 1.1.0\nverified"))
	if ms, err := r.Machines(c); err != nil || len(ms) != 1 || ms[0].Update != "blessed 1.1.0" || ms[0].Root != "verified" {
		t.Fatalf("machines with a root state: %+v, %v", ms, err)
	}
	must(t, r.Cordon(c, "m1", false))
	must(t, r.SetDraining(c, "m1", 0))
	if n, err := r.CountMachines(c); err != nil || n != (MachineCounts{Registered: 1, Cordoned: 1, Draining: 1}) {
		t.Fatalf("count machines: %+v, %v", n, err)
	}
	_, err = r.Uncordon(c, "m1")
	must(t, err)
	must(t, r.ClearDraining(c, "m1"))
	// Leaving revokes the machine's lease: its record goes at once.
	must(t, r.RevokeMachine(c, "m1"))
	if n, err := r.CountMachines(c); err != nil || n != (MachineCounts{}) {
		t.Fatalf("count machines after leaving: %+v, %v", n, err)
	}
	if ms, _ := r.Machines(c); len(ms) != 0 {
		t.Fatalf("after RevokeMachine: %+v", ms)
	}
	if err := r.RenewOnce(c, lease); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("lease after RevokeMachine: %v, want ErrLeaseNotFound", err)
	}
	must(t, r.RevokeMachine(c, "m1")) // not registered: nothing to do
	roles, err := r.EtcdRoles(c)
	must(t, err)
	if roles["test"] != EtcdLeader {
		t.Fatalf("etcd roles %v: want the lone member test as leader", roles)
	}
}

func placement(t *testing.T, unitName, machine, target string) *Placement {
	u := unitRecord(t, unitName, "[Service]\nExecStart=/bin/true\n")
	return &Placement{Unit: unitName, Machine: machine, Target: target, Hash: u.Hash, Options: u.Options}
}

func testPlacements(t *testing.T, r *Registry) {
	c := ctx(t)
	var changes []Change
	for _, n := range []string{"a.service", "b.service"} {
		changes = append(changes, PutPlacement(placement(t, n, "m1", TargetLaunched)))
	}
	changes = append(changes, SetUnplaced("c.service", "no machine has disk=hdd"))
	txns, err := r.Apply(c, always, changes)
	if err != nil || txns != 1 {
		t.Fatalf("apply: %d txns, %v", txns, err)
	}
	ps, rev, err := r.Placements(c, "m1")
	must(t, err)
	if len(ps) != 2 || ps["a.service"].Target != TargetLaunched || rev == 0 {
		t.Fatalf("placements of m1 at %d: %+v", rev, ps)
	}
	if ps, _, _ := r.Placements(c, "m2"); len(ps) != 0 {
		t.Fatalf("m2 sees m1's placements: %+v", ps)
	}
	must(t, putLaunched(c, r, unitRecord(t, "a.service", "[Service]\nExecStart=/bin/true\n")))
	snap, err := r.Snapshot(c)
	must(t, err)
	if len(snap.Placements["a.service"]) != 1 || snap.Unplaced["c.service"] == "" || snap.Desired["a.service"] != TargetLaunched || snap.Revision < rev {
		t.Fatalf("snapshot: %+v", snap)
	}
	// More changes than one transaction holds go in several.
	changes = changes[:0]
	for i := range TxnOps + 1 {
		changes = append(changes, SetUnplaced("u"+string(rune('a'+i%26))+string(rune('a'+i/26))+".service", "r"))
	}
	if txns, err := r.Apply(c, always, changes); err != nil || txns != 2 {
		t.Fatalf("apply %d changes: %d txns, %v; want 2", len(changes), txns, err)
	}
	// A guard that fails writes nothing and says the engine lost its lead.
	lost := clientv3.Compare(clientv3.CreateRevision(Prefix+"nonexistent"), ">", 0)
	txns, err = r.Apply(c, lost, []Change{DeletePlacement("a.service", "m1"), ClearUnplaced("c.service")})
	if !errors.Is(err, ErrNotLeader) || txns != 1 {
		t.Fatalf("apply under a failed guard: %d txns, %v; want ErrNotLeader", txns, err)
	}
	if ps, _, _ := r.Placements(c, "m1"); len(ps) != 2 {
		t.Fatalf("failed guard still deleted: %+v", ps)
	}
	_, err = r.Apply(c, always, []Change{DeletePlacement("a.service", "m1"), ClearUnplaced("c.service")})
	must(t, err)
	snap, err = r.Snapshot(c)
	must(t, err)
	if len(snap.Placements["a.service"]) != 0 || snap.Unplaced["c.service"] != "" {
		t.Fatalf("after delete: %+v %+v", snap.Placements, snap.Unplaced)
	}
}

// putLaunched stores a unit, launched.
func putLaunched(ctx context.Context, r *Registry, u *UnitRecord) error {
	_, err := r.PutUnit(ctx, u, TargetLaunched, true)
	return err
}

func testStates(t *testing.T, r *Registry) {
	c := ctx(t)
	lease, err := r.Grant(c, 5*time.Second)
	must(t, err)
	must(t, putLaunched(c, r, unitRecord(t, "a.service", "[Service]\nExecStart=/bin/true\n")))
	var ws []StateWrite
	for i := range TxnOps + 2 { // two transactions
		name := "s" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".service"
		ws = append(ws, StateWrite{Unit: name, Record: &StateRecord{Unit: name, Machine: "m1", Applied: TargetLaunched,
			State: unit.State{Active: unit.ActiveActive}}})
	}
	ws = append(ws, StateWrite{Unit: "a.service", Record: &StateRecord{Unit: "a.service", Machine: "m1", Hash: "h"}})
	must(t, r.WriteStates(c, "m1", lease, ws))
	sts, err := r.States(c)
	must(t, err)
	if len(sts) != len(ws) {
		t.Fatalf("%d states, want %d", len(sts), len(ws))
	}
	must(t, r.WriteStates(c, "m1", lease, []StateWrite{{Unit: ws[0].Unit}}))
	v, err := r.ReadStateView(c)
	must(t, err)
	if len(v.States) != len(ws)-1 || v.Hashes["a.service"] == "" {
		t.Fatalf("state view: %d states, hashes %v", len(v.States), v.Hashes)
	}
	// States hang on the machine's lease.
	must(t, r.Revoke(c, lease))
	if sts, _ := r.States(c); len(sts) != 0 {
		t.Fatalf("%d states outlive their lease", len(sts))
	}
}

func testLeases(t *testing.T, r *Registry) {
	c := ctx(t)
	lease, err := r.Grant(c, 3500*time.Millisecond) // rounded down to 3 s
	must(t, err)
	ttl, err := r.cli.TimeToLive(c, lease)
	must(t, err)
	if ttl.GrantedTTL != 3 {
		t.Fatalf("granted TTL %d s, want 3", ttl.GrantedTTL)
	}
	// Renewals keep it alive past its TTL.
	for range 5 {
		time.Sleep(time.Second)
		if err := r.RenewOnce(c, lease); err != nil {
			t.Fatalf("renew: %v", err)
		}
	}
	// Unrenewed, it expires; renewing then says so with the sentinel.
	// TimeToLive reads without renewing; -1 means the lease is gone.
	deadline := time.Now().Add(10 * time.Second)
	for ttl, err := r.cli.TimeToLive(c, lease); err != nil || ttl.TTL != -1; ttl, err = r.cli.TimeToLive(c, lease) {
		if time.Now().After(deadline) {
			t.Fatal("lease never expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	err = r.RenewOnce(c, lease)
	if !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("renew of an expired lease: %v, want ErrLeaseNotFound", err)
	}
	if err := r.Revoke(c, lease); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("revoke of an expired lease: %v, want ErrLeaseNotFound", err)
	}
	// A cancelled renewal is an error, but not ErrLeaseNotFound.
	live, err := r.Grant(c, 5*time.Second)
	must(t, err)
	cc, cancel := context.WithCancel(c)
	cancel()
	if err := r.RenewOnce(cc, live); err == nil || errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("cancelled renewal: %v", err)
	}
}

func testWatchPlacements(t *testing.T, r *Registry) {
	c := ctx(t)
	_, rev, err := r.Placements(c, "m1")
	must(t, err)
	wctx, cancel := context.WithCancel(c)
	got := make(chan PlacementEvent, 10)
	done := make(chan error, 1)
	go func() {
		done <- r.WatchPlacements(wctx, "m1", rev+1, func(evs []PlacementEvent) {
			for _, ev := range evs {
				got <- ev
			}
		})
	}()
	_, err = r.Apply(c, always, []Change{PutPlacement(placement(t, "a.service", "m1", TargetLoaded)),
		PutPlacement(placement(t, "b.service", "m2", TargetLoaded))})
	must(t, err)
	_, err = r.Apply(c, always, []Change{DeletePlacement("a.service", "m1")})
	must(t, err)
	for i, want := range []struct {
		unit string
		put  bool
	}{{"a.service", true}, {"a.service", false}} {
		select {
		case ev := <-got:
			if ev.Unit != want.unit || (ev.Placement != nil) != want.put || want.put && ev.Placement.Target != TargetLoaded {
				t.Fatalf("event %d: %+v, want %s put=%v (m2's placement must not show)", i, ev, want.unit, want.put)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never came", i)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v, want context.Canceled", err)
	}
}

func testWatchEngine(t *testing.T, r *Registry) {
	c := ctx(t)
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	events := make(chan struct{}, 1)
	r.WatchEngine(wctx, events)
	time.Sleep(200 * time.Millisecond) // let the watches start
	// The engine's own writes (placements) do not wake it...
	_, err := r.Apply(c, always, []Change{PutPlacement(placement(t, "a.service", "m1", TargetLoaded))})
	must(t, err)
	select {
	case <-events:
		t.Fatal("a placement write woke the engine")
	case <-time.After(300 * time.Millisecond):
	}
	// ...but units, desired states, machines and drain marks do.
	for _, write := range []func() error{
		func() error { return putLaunched(c, r, unitRecord(t, "a.service", "[Service]\nExecStart=/bin/true\n")) },
		func() error { return r.SetDesired(c, "a.service", TargetLoaded) },
		func() error { return r.RegisterMachine(c, &MachineRecord{ID: "m1"}, 0) },
		func() error { return r.SetDraining(c, "m1", 0) },
	} {
		must(t, write())
		select {
		case <-events:
		case <-time.After(5 * time.Second):
			t.Fatal("no engine event")
		}
	}
}

func testElection(t *testing.T, r *Registry) {
	c := ctx(t)
	first, err := r.Campaign(c, "m1", 5*time.Second)
	must(t, err)
	defer first.Close()
	if _, err := r.Apply(c, first.Guard(), []Change{SetUnplaced("a.service", "x")}); err != nil {
		t.Fatalf("leader's write: %v", err)
	}
	// A second campaign waits while the first leads.
	won := make(chan *Term, 1)
	go func() {
		second, err := r.Campaign(c, "m2", 5*time.Second)
		if err != nil {
			t.Error(err)
			close(won)
			return
		}
		won <- second
	}()
	select {
	case <-won:
		t.Fatal("two leaders at once")
	case <-time.After(500 * time.Millisecond):
	}
	deposed := first.Guard() // as the engine holds it for its term
	must(t, first.Resign(c))
	var second *Term
	select {
	case second = <-won:
	case <-time.After(5 * time.Second):
		t.Fatal("the second campaign never won after the first resigned")
	}
	if second == nil {
		t.FailNow()
	}
	defer second.Close()
	if _, err := r.Apply(c, deposed, []Change{SetUnplaced("a.service", "y")}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("deposed leader's write: %v, want ErrNotLeader", err)
	}
	if _, err := r.Apply(c, second.Guard(), []Change{SetUnplaced("a.service", "z")}); err != nil {
		t.Fatalf("new leader's write: %v", err)
	}
	// Closing the session ends the term: Done is closed.
	second.Close()
	select {
	case <-second.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Close")
	}
}

func testRebootLock(t *testing.T, r *Registry) {
	c := ctx(t)
	l, err := r.ReadRebootLock(c)
	must(t, err)
	if l.MaxRev != 0 || len(l.Holders) != 0 {
		t.Fatalf("empty lock reads %+v", l)
	}
	must(t, r.SetRebootMax(c, 2))
	l, err = r.ReadRebootLock(c)
	must(t, err)
	if l.Max != "2" || l.MaxRev == 0 {
		t.Fatalf("max: %+v", l)
	}
	lease, err := r.Grant(c, 10*time.Second)
	must(t, err)
	since := time.Now().UTC().Truncate(time.Second)
	taken, err := r.TakeRebootSlot(c, l, RebootHolder{Machine: "m1", Since: since}, lease)
	if err != nil || !taken {
		t.Fatalf("take: %v, %v", taken, err)
	}
	// The lock changed since l was read: a take on that read fails.
	lease2, err := r.Grant(c, 10*time.Second)
	must(t, err)
	if taken, err := r.TakeRebootSlot(c, l, RebootHolder{Machine: "m2"}, lease2); err != nil || taken {
		t.Fatalf("take on a stale read: %v, %v; want refused", taken, err)
	}
	s, ok, err := r.RebootSlot(c, "m1")
	must(t, err)
	if !ok || s.Lease != lease || s.Machine != "m1" || !s.Since.Equal(since) {
		t.Fatalf("slot of m1: %+v %v", s, ok)
	}
	if _, ok, err := r.RebootSlot(c, "m2"); ok || err != nil {
		t.Fatalf("slot of m2: %v, %v", ok, err)
	}
	// A holder value that does not decode is named by its key.
	_, err = r.cli.Put(c, RebootHolderKey("m3"), "garbage")
	must(t, err)
	l, err = r.ReadRebootLock(c)
	must(t, err)
	if len(l.Holders) != 2 || l.Holders[0].Machine != "m1" || l.Holders[1].Machine != "m3" {
		t.Fatalf("holders: %+v", l.Holders)
	}
	// The slot goes with its lease.
	must(t, r.Revoke(c, lease))
	if _, ok, _ := r.RebootSlot(c, "m1"); ok {
		t.Fatal("slot outlived its lease")
	}
}

func testDraining(t *testing.T, r *Registry) {
	c := ctx(t)
	lease, err := r.Grant(c, 5*time.Second)
	must(t, err)
	must(t, r.SetDraining(c, "m1", lease))
	must(t, r.SetDraining(c, "m2", 0))
	d, err := r.Draining(c)
	must(t, err)
	if !d["m1"] || !d["m2"] || len(d) != 2 {
		t.Fatalf("draining: %v", d)
	}
	must(t, r.ClearDraining(c, "m2"))
	must(t, r.Revoke(c, lease)) // the mark on a lease goes with it
	if d, _ := r.Draining(c); len(d) != 0 {
		t.Fatalf("draining after clear and revoke: %v", d)
	}
}

func testHealth(t *testing.T, r *Registry) {
	must(t, r.Health(ctx(t)))
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Health(c); err == nil {
		t.Fatal("health with a cancelled context is nil")
	}
}
