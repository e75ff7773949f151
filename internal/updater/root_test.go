package updater

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestRootStateHost: this test's root is no dm-verity device.
// (TestVerityInVM in internal/devmapper drives the kernel's V and C.)
func TestRootStateHost(t *testing.T) {
	s, err := RootState("/")
	if err != nil || s != RootUnverified {
		t.Fatalf("RootState(/) = %q, %v; want %q", s, err, RootUnverified)
	}
	if _, err := RootState("/no/such/path"); err == nil {
		t.Error("RootState of a missing path: no error")
	}
}

// TestRootStateShown: status and the registry carry the root's state; a
// change of it alone is published again.
func TestRootStateShown(t *testing.T) {
	w := newWorld(t)
	w.publish("1.0.0")
	d := w.daemon("1.0.0", "boot1")
	root := RootVerified
	d.RootState = func() string { return root }
	if err := d.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(); st.Root != RootVerified || !strings.Contains(st.Table(), "ROOT             verified") {
		t.Errorf("status root %q, table:\n%s", st.Root, st.Table())
	}
	root = RootCorrupt
	d.publish(context.Background())
	if !slices.Contains(w.cluster.statuses, "idle\nverified") || !slices.Contains(w.cluster.statuses, "idle\ncorrupt") {
		t.Errorf("registry statuses %q", w.cluster.statuses)
	}
}
