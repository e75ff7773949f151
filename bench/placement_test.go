package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/agent"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/engine"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

// BenchmarkPlacement10kOn100: 10,000 units onto 100 simulated machines:
// a real embedded etcd, the real engine and 100 real agents, each driving a
// simulated (in-memory) unit manager. The units are stored first; the clock
// starts when the engine starts. Reports placements/s and the time until
// every unit reports running.
func BenchmarkPlacement10kOn100(b *testing.B) {
	units, machines := benchSize(10000, 100)
	for range b.N {
		placed, running := placementRun(b, units, machines)
		b.ReportMetric(float64(units)/placed.Seconds(), "placements/s")
		b.ReportMetric(placed.Seconds(), "s-all-placed")
		b.ReportMetric(running.Seconds(), "s-all-running")
	}
}

func placementRun(b *testing.B, units, machines int) (placed, running time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ports := clustertest.FreePorts(b, 2)
	dir := b.TempDir()
	node, err := etcdnode.Start(ctx, etcdnode.Config{Name: "bench", DataDir: dir, TLS: clustertest.LoopbackTLS(b, dir+"/tls"),
		PeerURL: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), ClientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[1])})
	if err != nil {
		b.Fatal(err)
	}
	defer node.Close()
	reg := registry.New(node.Client)

	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for i := range machines {
		m := registry.MachineRecord{ID: fmt.Sprintf("%032x", i+1), Name: fmt.Sprintf("sim%d", i), PublicIP: "127.0.0.1"}
		ag := agent.New(reg, sim.New(), agent.Config{Machine: m, TTL: 5 * time.Second})
		wg.Go(func() { _ = ag.Run(ctx) })
	}
	waitCount(b, node.Client, "/flotilla/machines/", machines, false, time.Minute)

	f, _ := unit.Parse("x.service", []byte("[Service]\nExecStart=/bin/true\n"))
	var next atomic.Int64
	var sw sync.WaitGroup
	for range 32 {
		sw.Go(func() {
			for i := next.Add(1); i <= int64(units); i = next.Add(1) {
				name := fmt.Sprintf("u%05d.service", i)
				if _, err := reg.PutUnit(ctx, &registry.UnitRecord{Name: name, Hash: f.Hash(), Options: f.Options}, registry.TargetLaunched, false); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	sw.Wait()

	start := time.Now()
	eng := engine.New(reg, engine.Config{MachineID: "bench-engine", TTL: 5 * time.Second})
	wg.Go(func() { _ = eng.Run(ctx) })
	waitCount(b, node.Client, "/flotilla/placement/", units, false, 5*time.Minute)
	placed = time.Since(start)
	waitCount(b, node.Client, "/flotilla/state/", units, true, 5*time.Minute)
	running = time.Since(start)
	return placed, running
}

// waitCount polls until prefix holds n keys (with active, n values saying "active").
func waitCount(b *testing.B, cli *clientv3.Client, prefix string, n int, active bool, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got int
		if active {
			resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
			if err == nil {
				for _, kv := range resp.Kvs {
					if containsActive(kv.Value) {
						got++
					}
				}
			}
		} else {
			resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err == nil {
				got = int(resp.Count)
			}
		}
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("%s: fewer than %d keys after %s", prefix, n, timeout)
}

func containsActive(v []byte) bool {
	const needle = `"active":"active"`
	for i := 0; i+len(needle) <= len(v); i++ {
		if string(v[i:i+len(needle)]) == needle {
			return true
		}
	}
	return false
}

// benchSize lets FLOTILLA_BENCH_UNITS/FLOTILLA_BENCH_MACHINES shrink a run.
func benchSize(units, machines int) (int, int) {
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_BENCH_UNITS")); err == nil {
		units = v
	}
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_BENCH_MACHINES")); err == nil {
		machines = v
	}
	return units, machines
}
