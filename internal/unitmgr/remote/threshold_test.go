package remote_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/ttl"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// TestClientFenceThreshold: a client that states a fence threshold in its
// keepalives is fenced after it, not after the server's own (3 s here),
// and a threshold the server cannot honour fails Dial.
func TestClientFenceThreshold(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, remote.DefaultFenceAfter)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := remote.DialWith(ctx, sock, remote.ClientOptions{FenceAfter: 600 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "longer --ttl") {
		t.Fatalf("dial with a 600ms threshold: %v, want refused", err)
	}
	c, err := remote.DialWith(ctx, sock, remote.ClientOptions{FenceAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const name = "threshold.service"
	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, name, 10*time.Second, running)
	gone := time.Now()
	c.Close()
	waitGone(t, st.PID, 2500*time.Millisecond) // the server's own 3 s would fail this
	took := time.Since(gone)
	if took < 500*time.Millisecond {
		t.Fatalf("unit killed %s after the client left, before its threshold (1s)", took)
	}
	t.Logf("fenced %s after a client with a 1s threshold left", took)
}

// TestShortTTLNoOverlap runs the real fleetd with --ttl 2s against a unit
// manager hosted by another process that was started with the old fixed
// 3 s threshold, and SIGKILLs fleetd. The host must kill the unit (SIGKILL)
// before fleetd's machine lease expires in etcd: otherwise the engine
// could start it elsewhere while it still runs here. With the host fencing
// after 3 s regardless of --ttl, the lease (2 s) expired about a second
// before the unit died.
func TestShortTTLNoOverlap(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedSlow(t)
	const short = 2 * time.Second
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	startHost(t, sock, filepath.Join(dir, "data"), remote.DefaultFenceAfter)

	// n1 is the etcd member (and runs nothing: metadata); n2, an etcd
	// client, runs its units in the host, so killing it leaves etcd up.
	c := clustertest.New(t, 1, 1, "role=etcd", "role=host")
	member, n := c.Nodes[0], c.Nodes[1]
	for _, x := range c.Nodes {
		x.Extra = []string{"--ttl", short.String()}
	}
	n.Extra = append(n.Extra, "--unit-manager", "unix:"+sock)
	c.StartAll()
	const name = "overlap.service"
	c.WriteUnit(name, sleeper+"[X-Fleet]\nMachineMetadata=role=host\n")
	c.MustFleetctl("start", "--no-block", name)
	var pid int
	if err := testutil.Eventually(60*time.Second, func() error {
		if pid = statePID(t, c, name); pid == 0 {
			return fmt.Errorf("%s not active yet", name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	cli, err := c.EtcdClient(member)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := registry.Prefix + "machines/" + n.MachineID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("machine key %s: %v %v", key, resp, err)
	}
	expired := make(chan time.Time, 1)
	wch := cli.Watch(ctx, key, clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		for r := range wch {
			for _, ev := range r.Events {
				if ev.Type == clientv3.EventTypeDelete {
					expired <- time.Now()
					return
				}
			}
		}
	}()
	died := make(chan time.Time, 1)
	go func() {
		for alive(pid) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		died <- time.Now()
	}()

	killed := time.Now()
	c.Kill(n)
	var deadAt, expiredAt time.Time
	select {
	case deadAt = <-died:
	case <-ctx.Done():
		t.Fatal("the unit never died")
	}
	select {
	case expiredAt = <-expired:
	case <-ctx.Done():
		t.Fatal("the machine lease never expired")
	}
	t.Logf("after fleetd's SIGKILL: unit dead at +%s, lease expired at +%s (ttl %s, host fences after %s)",
		deadAt.Sub(killed).Round(time.Millisecond), expiredAt.Sub(killed).Round(time.Millisecond), short, ttl.Of(short).ManagerFence())
	if !deadAt.Before(expiredAt) {
		t.Fatalf("the unit outlived the machine lease by %s: it could run in two places", deadAt.Sub(expiredAt))
	}
}
