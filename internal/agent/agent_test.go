package agent_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/agent"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
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
	if err := testutil.Eventually(within, func() error {
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
	mgr := sim.New()
	startAgent(t, reg, mgr, time.Second) // renews every 200 ms
	place(t, reg, "a.service", registry.TargetLaunched)
	waitActive(t, mgr, "a.service", unit.ActiveActive, 5*time.Second)
	if err := testutil.Eventually(5*time.Second, func() error {
		sts, err := reg.States(context.Background())
		if err != nil || len(sts) != 1 || sts[0].State.Active != unit.ActiveActive {
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
	waitActive(t, mgr, "a.service", unit.ActiveInactive, 5*time.Second)
	if err := testutil.Eventually(5*time.Second, func() error {
		sts, err := reg.States(context.Background())
		if err != nil || len(sts) != 1 || sts[0].State.Active != unit.ActiveInactive || sts[0].Applied != registry.TargetLoaded {
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
	mgr := sim.New()
	const ttl = 2 * time.Second
	startAgent(t, reg, mgr, ttl)
	place(t, reg, "f.service", registry.TargetLaunched)
	waitActive(t, mgr, "f.service", unit.ActiveActive, 5*time.Second)
	node.Close() // etcd gone: no renewal can succeed
	took := waitActive(t, mgr, "f.service", unit.ActiveInactive, 2*ttl)
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
	mgr := sim.New()
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
	waitActive(t, mgr, "kept.service", unit.ActiveActive, 5*time.Second)
	before, _ := mgr.State("kept.service")
	place(t, reg, "kept.service", registry.TargetLaunched)
	startAgent(t, reg, mgr, time.Second)
	if err := testutil.Eventually(5*time.Second, func() error {
		if _, ok := mgr.State("gone.service"); ok {
			return fmt.Errorf("gone.service, placed nowhere, is still loaded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	after, ok := mgr.State("kept.service")
	if !ok || after.Active != unit.ActiveActive || !after.Since.Equal(before.Since) {
		t.Fatalf("kept.service was disturbed: before %+v, after %+v", before, after)
	}
}

// TestAdoptedUnitWithOldDefinition: a unit replaced in the cluster while
// this node's fleetd was down (init kept running the old file) is stopped
// and started again with the new file once the agent is back; a running
// unit whose placement now only loads it is stopped.
func TestAdoptedUnitWithOldDefinition(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := sim.New()
	for _, name := range []string{"replaced.service", "unlaunched.service"} {
		old, err := unit.Parse(name, []byte("[Service]\nExecStart=/bin/sleep 1000\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Load(name, old); err != nil {
			t.Fatal(err)
		}
		if err := mgr.Start(name); err != nil {
			t.Fatal(err)
		}
	}
	oldHash := func() string { st, _ := mgr.State("replaced.service"); return st.Hash }()
	place(t, reg, "replaced.service", registry.TargetLaunched) // ExecStart=/bin/true: a new hash
	place(t, reg, "unlaunched.service", registry.TargetLoaded)
	want, err := unit.Parse("replaced.service", []byte("[Service]\nExecStart=/bin/true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if oldHash == "" || oldHash == want.Hash() {
		t.Fatalf("the manager reports hash %q for the old file; the test needs it known and different from %q", oldHash, want.Hash())
	}
	startAgent(t, reg, mgr, time.Second)
	if err := testutil.Eventually(5*time.Second, func() error {
		st, _ := mgr.State("replaced.service")
		if st.Active != unit.ActiveActive || st.Hash != want.Hash() {
			return fmt.Errorf("replaced.service is %s running %.7s; want active running %.7s", st.Active, st.Hash, want.Hash())
		}
		if st, _ := mgr.State("unlaunched.service"); st.Active != unit.ActiveInactive {
			return fmt.Errorf("unlaunched.service is %s; its placement only loads it", st.Active)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSlowEtcdDoesNotFence: when every etcd reply takes longer than the
// renewal interval (TTL/5) but well within the fence delay (3/5 TTL), as on
// a loaded node, the agent keeps its units running. Each reply is delayed
// by a proxy on loopback between the agent's client and a real etcd.
func TestSlowEtcdDoesNotFence(t *testing.T) {
	node, files := clustertest.EtcdTLS(t)
	const ttl = 2 * time.Second
	const delay = 600 * time.Millisecond // > TTL/5 = 400 ms, < 3/5 TTL = 1.2 s
	proxy := delayProxy(t, strings.TrimPrefix(node.Client.Endpoints()[0], "https://"), delay)
	cli, err := clientv3.New(clustertest.EtcdConfig(t, files, "https://"+proxy))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	// The placement is written directly; the agent sees etcd only through the proxy.
	place(t, registry.New(node.Client), "s.service", registry.TargetLaunched)
	mgr := &fenceCounter{Manager: sim.New()}
	startAgent(t, registry.New(cli), mgr, ttl)
	waitActive(t, mgr, "s.service", unit.ActiveActive, 10*time.Second)
	t.Logf("s.service active; %d fences while the first (slow) connection was set up", mgr.fences.Swap(0))
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st, _ := mgr.State("s.service"); st.Active != unit.ActiveActive {
			t.Fatalf("s.service went %q under slow (but timely) renewals; want it kept active", st.Active)
		}
	}
	if n := mgr.fences.Load(); n != 0 {
		t.Errorf("the agent fenced %d times though every renewal was answered within %s", n, delay+100*time.Millisecond)
	}
}

// TestVerySlowEtcdFencesOnce: when every reply takes so long that it
// arrives just before the fence would fire again (1 s of a 1.2 s fence
// delay), the agent stays fenced instead of restarting its units on each
// late answer and killing them again a moment later.
func TestVerySlowEtcdFencesOnce(t *testing.T) {
	node, files := clustertest.EtcdTLS(t)
	const ttl = 2 * time.Second
	proxy := delayProxy(t, strings.TrimPrefix(node.Client.Endpoints()[0], "https://"), time.Second)
	cli, err := clientv3.New(clustertest.EtcdConfig(t, files, "https://"+proxy))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	place(t, registry.New(node.Client), "v.service", registry.TargetLaunched)
	mgr := &fenceCounter{Manager: sim.New()}
	startAgent(t, registry.New(cli), mgr, ttl)
	time.Sleep(4 * ttl)
	if n := mgr.fences.Load(); n == 0 || n > 2 {
		t.Errorf("%d fences in %s of replies 1 s late; want the agent fenced once and kept so", n, 4*ttl)
	}
}

// gapAgent runs an agent (TTL 5 s: fence 3 s, kill deadline 4 s) whose
// etcd replies pass through a gap proxy, with g.service active.
func gapAgent(t *testing.T) (*fenceCounter, *gap) {
	node, files := clustertest.EtcdTLS(t)
	g := &gap{}
	addr := proxy(t, strings.TrimPrefix(node.Client.Endpoints()[0], "https://"), 0, g)
	cli, err := clientv3.New(clustertest.EtcdConfig(t, files, "https://"+addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	place(t, registry.New(node.Client), "g.service", registry.TargetLaunched)
	mgr := &fenceCounter{Manager: sim.New()}
	startAgent(t, registry.New(cli), mgr, 5*time.Second)
	waitActive(t, mgr, "g.service", unit.ActiveActive, 10*time.Second)
	time.Sleep(2 * time.Second) // settle: the agent is idle but for renewals
	mgr.fences.Store(0)
	mgr.freezes.Store(0)
	return mgr, g
}

// TestRenewalGapFreezesAndThaws: with no renewal answered for 3.5 s since
// the last answered one (past the 3 s fence point, before the 4 s kill
// deadline) the agent freezes its units and thaws them when the held
// answers land: no kill, no restart. The gap proper is 2.5 s: it starts at
// the renewal after the last answered one (measured: the kill of
// TestLongRenewalGapKills comes 3 s into its gap, 4 s after that renewal).
func TestRenewalGapFreezesAndThaws(t *testing.T) {
	mgr, g := gapAgent(t)
	before, _ := mgr.State("g.service")
	g.arm(2500 * time.Millisecond)
	start := <-g.start
	var frozeAt time.Duration
	for end := start.Add(6 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if frozeAt == 0 && mgr.Manager.(*sim.Manager).Frozen() {
			frozeAt = time.Since(start)
		}
		if st, _ := mgr.State("g.service"); st.Active != unit.ActiveActive {
			t.Fatalf("g.service went %q during a renewal gap shorter than the kill deadline", st.Active)
		}
	}
	t.Logf("frozen %s into the gap; %d freezes, %d thaws, %d fences", frozeAt.Round(time.Millisecond), mgr.freezes.Load(), mgr.thaws.Load(), mgr.fences.Load())
	if n := mgr.fences.Load(); n != 0 {
		t.Errorf("%d fences (kills) for a 3.5 s renewal gap; want none (kill deadline 4 s)", n)
	}
	if n := mgr.freezes.Load(); n != 1 || frozeAt == 0 {
		t.Errorf("%d freezes (frozen seen at %s); want the units frozen once, at the 3 s fence point", n, frozeAt)
	}
	if mgr.Manager.(*sim.Manager).Frozen() {
		t.Errorf("units still frozen after the gap")
	}
	if after, _ := mgr.State("g.service"); !after.Since.Equal(before.Since) {
		t.Errorf("g.service changed state (since %s, was %s): restarted", after.Since, before.Since)
	}
}

// TestLongRenewalGapKills: with no renewal answered for 7 s the frozen
// units are killed at the kill deadline (4 s), before the lease (5 s)
// could expire, and restored once renewals land again.
func TestLongRenewalGapKills(t *testing.T) {
	mgr, g := gapAgent(t)
	g.arm(6 * time.Second)
	start := <-g.start
	waitActive(t, mgr, "g.service", unit.ActiveInactive, 6*time.Second)
	t.Logf("killed %s into the gap; %d freezes, %d fences", time.Since(start).Round(time.Millisecond), mgr.freezes.Load(), mgr.fences.Load())
	// The last answered renewal went out 1 s before the gap (see above).
	if d := time.Since(start) + time.Second; d >= 5*time.Second {
		t.Errorf("killed %s after the last answered renewal, not before the 5 s lease could expire", d)
	}
	if n := mgr.freezes.Load(); n != 1 {
		t.Errorf("%d freezes before the kill; want 1", n)
	}
	waitActive(t, mgr, "g.service", unit.ActiveActive, 10*time.Second)
}

// fenceCounter counts Fence, Freeze and Thaw calls.
type fenceCounter struct {
	unitmgr.Manager
	fences, freezes, thaws atomic.Int32
}

func (f *fenceCounter) Freeze() error {
	f.freezes.Add(1)
	return f.Manager.Freeze()
}

func (f *fenceCounter) Thaw() error {
	f.thaws.Add(1)
	return f.Manager.Thaw()
}

func (f *fenceCounter) Fence(deadline time.Time) error {
	f.fences.Add(1)
	return f.Manager.Fence(deadline)
}

// delayProxy forwards loopback TCP connections to target, delivering every
// chunk from target delay after it arrived (order kept, no bandwidth cap).
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	return proxy(t, target, delay, nil)
}

// gap holds a proxy's replies: armed with a length, it starts at the next
// chunk the client sends after 300 ms of silence (the agent's next renewal
// when it is idle, not the acknowledgements that follow the answer to the
// last one), and every reply arriving before it ends is delivered only at
// its end.
type gap struct {
	mu     sync.Mutex
	length time.Duration // armed: the next client chunk starts a gap this long
	until  time.Time
	last   time.Time      // when the client last sent
	start  chan time.Time // when the gap started
}

func (g *gap) arm(length time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.length = length
	g.start = make(chan time.Time, 1)
}

func (g *gap) sent() {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	quiet := now.Sub(g.last) >= 300*time.Millisecond
	g.last = now
	if g.length > 0 && quiet {
		g.until = now.Add(g.length)
		g.length = 0
		g.start <- now
	}
}

// deliverAt is when a reply arriving at t goes out.
func (g *gap) deliverAt(t time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.Before(g.until) {
		return g.until
	}
	return t
}

// proxy forwards loopback TCP connections to target, delivering every chunk
// from target delay after it arrived, or at the end of a gap of g (nil: no
// gaps), order kept.
func proxy(t *testing.T, target string, delay time.Duration, g *gap) string {
	t.Helper()
	if g == nil {
		g = &gap{}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() {
				defer s.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						g.sent()
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				type chunk struct {
					at time.Time
					b  []byte
				}
				q := make(chan chunk, 1024)
				go func() {
					defer close(q)
					for {
						buf := make([]byte, 32<<10)
						n, err := s.Read(buf)
						if n > 0 {
							now := time.Now()
							q <- chunk{g.deliverAt(now).Add(delay), buf[:n]}
						}
						if err != nil {
							return
						}
					}
				}()
				for ch := range q {
					time.Sleep(time.Until(ch.at))
					if _, err := c.Write(ch.b); err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// TestAliveTracksTheWatchdogDeadline: every answered renewal tells Alive a
// deadline before the lease could expire; fencing disarms it, and nothing
// re-arms it while fenced.
func TestAliveTracksTheWatchdogDeadline(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	const ttl = 2 * time.Second
	var mu sync.Mutex
	var calls []time.Time // the deadlines, zero for a disarm
	var at []time.Time    // when each came
	alive := func(d time.Time) {
		mu.Lock()
		defer mu.Unlock()
		calls, at = append(calls, d), append(at, time.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	ag := agent.New(reg, sim.New(), agent.Config{Machine: registry.MachineRecord{ID: "m1", Name: "m1"}, TTL: ttl, Logf: t.Logf, Alive: alive})
	wg.Go(func() { _ = ag.Run(ctx) })
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }
	testutil.WaitFor(t, "three renewals told to Alive", 10*time.Second, func() bool { return count() >= 3 })
	node.Close()
	closed := time.Now()
	testutil.WaitFor(t, "a disarm after etcd went away", 2*ttl, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls[len(calls)-1].IsZero()
	})
	time.Sleep(ttl / 2) // no re-arm while fenced
	mu.Lock()
	defer mu.Unlock()
	for i, d := range calls[:len(calls)-1] {
		if d.IsZero() {
			continue
		}
		if left := d.Sub(at[i]); left <= 0 || left > ttl*9/10 {
			t.Errorf("call %d: deadline %s after the call, want within the watchdog's (%s)", i, left, ttl*9/10)
		}
	}
	last := calls[len(calls)-1]
	if !last.IsZero() {
		t.Errorf("armed again (%s) while fenced", last)
	}
	for i := range calls {
		if calls[i].IsZero() && at[i].Sub(closed) >= ttl {
			t.Errorf("disarmed %s after etcd went away, after the lease could expire", at[i].Sub(closed))
		}
	}
}

// TestLostLeaseForgetsMovedUnits: when the machine's lease is lost (the
// agent fences) and the engine moves a unit elsewhere meanwhile, the agent's
// new session reports only the units still placed here. The moved one is
// unloaded and has no state row: list-units shows one row per unit, not an
// `inactive` leftover on the old machine.
func TestLostLeaseForgetsMovedUnits(t *testing.T) {
	node, files := clustertest.EtcdTLS(t)
	reg := registry.New(node.Client) // the engine's view, never cut
	link := cutProxy(t, strings.TrimPrefix(node.Client.Endpoints()[0], "https://"))
	cli, err := clientv3.New(clustertest.EtcdConfig(t, files, "https://"+link.addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	mgr := sim.New()
	startAgent(t, registry.New(cli), mgr, time.Second)
	place(t, reg, "stay.service", registry.TargetLaunched)
	place(t, reg, "moved.service", registry.TargetLaunched)
	waitActive(t, mgr, "stay.service", unit.ActiveActive, 5*time.Second)
	waitActive(t, mgr, "moved.service", unit.ActiveActive, 5*time.Second)
	ctx := context.Background()
	if err := testutil.Eventually(5*time.Second, func() error {
		if sts, err := reg.States(ctx); err != nil || len(sts) != 2 {
			return fmt.Errorf("states %v (%v), want 2", sts, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// m1's link is cut: it fences its units. Its lease is lost (revoked
	// here rather than waited for) and the engine moves moved.service off
	// m1 while m1 cannot see it. Then the link heals.
	link.cut(true)
	waitActive(t, mgr, "moved.service", unit.ActiveInactive, 5*time.Second)
	if err := reg.RevokeMachine(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Apply(ctx, always, []registry.Change{registry.DeletePlacement("moved.service", "m1")}); err != nil {
		t.Fatal(err)
	}

	link.cut(false)
	// The agent registers again and restarts what is still placed here.
	if err := testutil.Eventually(10*time.Second, func() error {
		ms, err := reg.Machines(ctx)
		if err != nil || len(ms) != 1 {
			return fmt.Errorf("machines %v (%v), want m1 registered again", ms, err)
		}
		if st, _ := mgr.State("stay.service"); st.Active != unit.ActiveActive {
			return fmt.Errorf("stay.service is %q, want it restored", st.Active)
		}
		sts, err := reg.States(ctx)
		if err != nil || len(sts) != 1 || sts[0].Unit != "stay.service" || sts[0].State.Active != unit.ActiveActive {
			return fmt.Errorf("states %s (%v), want stay.service active alone", statesString(sts), err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// And it stays so: no stale row comes back once things settle.
	time.Sleep(time.Second)
	sts, err := reg.States(ctx)
	if err != nil || len(sts) != 1 {
		t.Fatalf("states %s (%v), want stay.service alone", statesString(sts), err)
	}
	if _, ok := mgr.State("moved.service"); ok {
		t.Errorf("moved.service, placed elsewhere now, is still loaded on m1")
	}
}

func statesString(sts []*registry.StateRecord) string {
	var b strings.Builder
	for _, s := range sts {
		fmt.Fprintf(&b, "[%s on %s: %s] ", s.Unit, s.Machine, s.State.Active)
	}
	return b.String()
}

// link is a loopback TCP proxy whose connections can be cut and healed.
type link struct {
	addr  string
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

// cut drops every connection and refuses new ones while down.
func (l *link) cut(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = down
	if down {
		for _, c := range l.conns {
			c.Close()
		}
		l.conns = nil
	}
}

func cutProxy(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	l := &link{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			down := l.down
			l.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns = append(l.conns, c, s)
			l.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.cut(true) })
	return l
}

// recorder records the Loads and Starts a Manager is asked for.
type recorder struct {
	unitmgr.Manager
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Load(name string, f *unit.File) error {
	r.add("load " + name)
	return r.Manager.Load(name, f)
}

func (r *recorder) Start(name string) error {
	r.add("start " + name)
	return r.Manager.Start(name)
}

// TestLoadsBeforeStarts (issue 16): units placed together are all loaded
// before any is started, so that a start pulls in the units it depends on
// (a sidekick's BindsTo= its service) whatever order the agent meets them in.
func TestLoadsBeforeStarts(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	mgr := &recorder{Manager: sim.New()}
	names := []string{"a.service", "b.service", "c.service", "d.service", "e.service"}
	for _, n := range names {
		place(t, reg, n, registry.TargetLaunched)
	}
	startAgent(t, reg, mgr, time.Second)
	for _, n := range names {
		waitActive(t, mgr, n, unit.ActiveActive, 5*time.Second)
	}
	mgr.mu.Lock()
	defer mgr.mu.Unlock()
	lastLoad, firstStart := -1, len(mgr.calls)
	for i, c := range mgr.calls {
		if strings.HasPrefix(c, "load ") {
			lastLoad = i
		} else if firstStart == len(mgr.calls) {
			firstStart = i
		}
	}
	if lastLoad > firstStart {
		t.Errorf("a unit was started before all were loaded: %v", mgr.calls)
	}
}
