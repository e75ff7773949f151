package clustertest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/initd"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestReadyNotify: fleetd started with NOTIFY_SOCKET (by init on a node,
// by systemd with Type=notify) says READY=1 once it serves, and init's
// WaitFleetd returns on that message, not on connecting to the API socket:
// it points here at a socket nobody serves.
func TestReadyNotify(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 1, 0)
	sock := filepath.Join(t.TempDir(), "fleetd.notify")
	notify, err := initd.ListenNotify(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	c.Nodes[0].Env = []string{"NOTIFY_SOCKET=" + sock}
	c.Start(c.Nodes[0])
	nobody := filepath.Join(t.TempDir(), "nobody.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := initd.WaitFleetd(ctx, nobody, notify); err != nil {
		t.Fatalf("no READY=1 from fleetd: %v", err)
	}
	// Ready means serving: the API answers at once.
	if _, err := c.Client(c.Nodes[0]).Machines(context.Background()); err != nil {
		t.Fatalf("READY=1 came, but the API does not answer: %v", err)
	}
}
