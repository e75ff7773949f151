package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/ttl"
)

// The fault injector of issue 18: a three-node cluster, each unit a
// writer (chaos.go), and rounds of SIGKILL, SIGSTOP and link cuts chosen
// by a seed, etcd's raft leader among the victims. RunFaultInjection and
// RunLeaderPause return what happened; the tests judge it and the
// benchmarks report it.

// FaultKind is what a round does to its victim.
type FaultKind string

// The rounds.
const (
	FaultKill  FaultKind = "kill"  // SIGKILL of fleetd; restarted once its units moved
	FaultPause FaultKind = "pause" // SIGSTOP of the inner fleetd (etcd and agent), SIGCONT after Pause
	FaultCut   FaultKind = "cut"   // the node's link down, up again after Cut
)

// FaultOptions shape a run of the injector.
type FaultOptions struct {
	Seed   uint64
	Units  int
	Rounds int              // as many of each kind (Rounds/3), half of each aimed at the raft leader
	Pause  [2]time.Duration // a paused fleetd stays stopped from [0] to [1], as the seed picks
	Cut    [2]time.Duration // a cut link stays down from [0] to [1], as the seed picks
	Env    []string         // KEY=value added to every fleetd's environment
}

// Round is one fault.
type Round struct {
	Kind      FaultKind
	AimLeader bool          // planned against whoever is raft leader
	For       time.Duration // how long a pause or cut lasts
	Victim    string        // node name
	Leader    bool          // the victim was etcd's raft leader when struck
	Units     int           // units running on the victim when struck
	From, To  time.Duration
	Note      string
}

// FaultResult is what a run of the injector saw.
type FaultResult struct {
	Options  FaultOptions
	Units    []string
	Rounds   []Round
	Report   Report
	Margin   time.Duration     // FenceMargin for the cluster's TTL
	Machines map[string]string // machine ID → node name
}

// Explain says where a gap fell: its round and when after the fault it
// began, and the machines a unit wrote on before and after it.
func (r FaultResult) Explain(g Gap) string {
	round, at := 0, g.From
	for i, rd := range r.Rounds {
		if g.To > rd.From {
			round, at = i+1, g.From-rd.From
		}
	}
	var before, after string
	for _, cp := range r.Report.Copies[g.Unit] {
		if cp.First <= g.From && cp.Last >= g.From-time.Millisecond {
			before = r.Machines[cp.Machine]
		}
		if cp.First == g.To {
			after = r.Machines[cp.Machine]
		}
	}
	return fmt.Sprintf("%s %s in round %d, from %s after the fault, %s → %s", g.Unit, g.Len().Round(time.Millisecond), round, at.Round(100*time.Millisecond), before, after)
}

// TTL is the machine lease TTL the nodes run with (the last --ttl of
// their arguments).
func (c *Cluster) TTL() time.Duration {
	a := c.args(c.Nodes[0])
	d := ttl.Default
	for i := range a[:len(a)-1] {
		if a[i] == "--ttl" {
			if v, err := time.ParseDuration(a[i+1]); err == nil {
				d = v
			}
		}
	}
	return d
}

// InnerPID is the lifeline's child of the node's outer fleetd: the
// process that runs etcd and the agent, PID 1 of the node's pid namespace
// (a child of the outer process's locked thread, not of its main one).
func (n *Node) InnerPID() (int, error) {
	outer := n.PID()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", outer))
	var kids []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return 0, fmt.Errorf("children of %s's fleetd %d: %w", n.Name, outer, err)
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	if len(kids) != 1 {
		return 0, fmt.Errorf("%s's fleetd %d has children %v, want the one lifeline child", n.Name, outer, kids)
	}
	return strconv.Atoi(kids[0])
}

// RaftLeader is the node whose etcd member leads raft, asking every
// running member; they must all answer and agree.
func (c *Cluster) RaftLeader() (*Node, error) {
	var leader *Node
	var lead uint64
	for _, n := range c.Nodes {
		if !n.Member || !n.Running() {
			continue
		}
		cli, err := c.EtcdClient(n)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, c.EtcdURL(n))
		cancel()
		cli.Close()
		switch {
		case err != nil:
			return nil, fmt.Errorf("etcd member %s: %w", n.Name, err)
		case st.Leader == 0:
			return nil, fmt.Errorf("etcd member %s has no leader", n.Name)
		case lead != 0 && st.Leader != lead:
			return nil, fmt.Errorf("etcd members disagree on the leader (%x, %x)", lead, st.Leader)
		}
		lead = st.Leader
		if st.Header.MemberId == st.Leader {
			leader = n
		}
	}
	if leader == nil {
		return nil, fmt.Errorf("no running member is raft leader %x", lead)
	}
	return leader, nil
}

// placement maps each unit of names active on exactly one machine to it,
// asking the first of ask that answers.
func (c *Cluster) placement(names []string, ask ...*Node) (map[string]string, error) {
	var err error
	for _, n := range ask {
		var st map[string][]string
		if st, err = c.rows(n); err != nil {
			continue
		}
		out := map[string]string{}
		for _, u := range names {
			if on := st[u]; len(on) == 1 {
				out[u] = on[0]
			}
		}
		return out, nil
	}
	return nil, err
}

// rows is node n's view of the machines each unit is active on.
func (c *Cluster) rows(n *Node) (map[string][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sts, err := c.Client(n).UnitStates(ctx, client.StateFilter{})
	if err != nil {
		return nil, fmt.Errorf("%s: unit states: %w", n.Name, err)
	}
	out := map[string][]string{}
	for _, s := range sts {
		if s.SystemdActiveState == "active" && s.MachineID != "" {
			out[s.Name] = append(out[s.Name], s.MachineID)
		}
	}
	return out, nil
}

// settle waits until every node runs and lists every machine, every unit
// of names is active on exactly one machine, and the etcd members agree
// on a leader.
func (c *Cluster) settle(names []string, within time.Duration) error {
	return testutil.EventuallyEvery(250*time.Millisecond, within, func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				return fmt.Errorf("%s is not running", n.Name)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			ms, err := c.Client(n).Machines(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: machines: %w", n.Name, err)
			}
			if len(ms) != len(c.Nodes) {
				return fmt.Errorf("%s lists %d machines, want %d", n.Name, len(ms), len(c.Nodes))
			}
		}
		st, err := c.rows(c.Nodes[0])
		if err != nil {
			return err
		}
		for _, u := range names {
			if len(st[u]) != 1 {
				return fmt.Errorf("%s active on %d machines", u, len(st[u]))
			}
		}
		_, err = c.RaftLeader()
		return err
	})
}

// others is every node but n.
func (c *Cluster) others(n *Node) []*Node {
	var out []*Node
	for _, m := range c.Nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// StartWriters starts n writer units prefix-i, appending to log, and
// waits until each is active on exactly one machine.
func (c *Cluster) StartWriters(prefix string, n int, log string) []string {
	c.T.Helper()
	bin, err := BuildWriter()
	if err != nil {
		c.T.Fatal(err)
	}
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d.service", prefix, i)
		c.WriteUnit(name, WriterUnit(bin, log))
		names = append(names, name)
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
	if err := c.settle(names, 2*time.Minute); err != nil {
		c.T.Fatal(err)
	}
	return names
}

// plan orders the rounds: Rounds/3 of each kind, shuffled by the seed,
// alternately aimed at the raft leader, starting with a seeded pick; each
// pause and cut lasts a seeded time in its range.
func plan(rng *rand.Rand, o FaultOptions) []Round {
	span := func(r [2]time.Duration) time.Duration {
		if r[1] <= r[0] {
			return r[0]
		}
		return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])+1)).Truncate(100*time.Millisecond)
	}
	var out []Round
	for _, k := range []FaultKind{FaultKill, FaultPause, FaultCut} {
		aim := rng.IntN(2) == 0
		for range o.Rounds / 3 {
			r := Round{Kind: k, AimLeader: aim}
			switch k {
			case FaultPause:
				r.For = span(o.Pause)
			case FaultCut:
				r.For = span(o.Cut)
			}
			out = append(out, r)
			aim = !aim
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// RunFaultInjection runs the injector: three members, each in its own
// network namespace on a Switch, o.Units writers, and the rounds of
// plan. Each round waits for the cluster to settle (every machine listed,
// each unit active once, one raft leader) before the next. The writers'
// log is read at the end and checked.
func RunFaultInjection(t testing.TB, o FaultOptions) FaultResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed))
	sw := NewSwitch(t) // before New: its cleanup runs after the nodes are killed
	c := New(t, 3, 0)
	c.EnableTLS(sw.Attach(c.Nodes...)...)
	for _, n := range c.Nodes {
		n.Env = append(n.Env, o.Env...)
	}
	c.StartAll()
	log := filepath.Join(t.TempDir(), "writes.log")
	res := FaultResult{Options: o, Margin: FenceMargin(ttl.Of(c.TTL())), Machines: map[string]string{}}
	for _, n := range c.Nodes {
		res.Machines[n.MachineID()] = n.Name
	}
	res.Units = c.StartWriters("chaos", o.Units, log)
	t.Cleanup(func() { c.keep(log) }) // failed or not, before the nodes are killed
	time.Sleep(time.Second)
	from := Mono()

	res.Rounds = plan(rng, o)
	for i := range res.Rounds {
		r := &res.Rounds[i]
		leader, err := c.RaftLeader()
		if err != nil {
			t.Fatalf("round %d: %v", i+1, err)
		}
		placed, err := c.placement(res.Units, c.Nodes...)
		if err != nil {
			t.Fatalf("round %d: %v", i+1, err)
		}
		victim := leader
		if !r.AimLeader {
			victim = pickVictim(rng, c.others(leader), placed)
		}
		r.Victim, r.Leader = victim.Name, victim == leader
		for _, m := range placed {
			if m == victim.MachineID() {
				r.Units++
			}
		}
		switch r.Kind {
		case FaultKill:
			r.From = Mono()
			c.Kill(victim)
			r.Note = c.waitMovedOff(res.Units, victim, 60*time.Second)
			c.Start(victim)
		case FaultPause:
			r.From = Mono()
			r.Note = c.pause(victim, r.For)
		case FaultCut:
			sw.Cut(victim)
			r.From = Mono()
			time.Sleep(r.For)
			sw.Heal(victim)
			r.Note = fmt.Sprintf("link down %s", r.For)
		}
		if err := c.settle(res.Units, 90*time.Second); err != nil {
			t.Fatalf("round %d (%s %s): the cluster did not settle: %v", i+1, r.Kind, r.Victim, err)
		}
		r.To = Mono()
		r.Note += fmt.Sprintf("; settled %s after", (r.To - r.From).Round(100*time.Millisecond))
		t.Logf("round %d: %s %s (raft leader: %v, %d units): %s", i+1, r.Kind, r.Victim, r.Leader, r.Units, r.Note)
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second)
	end := Mono()
	writes, err := ReadWrites(log)
	if err != nil {
		t.Fatal(err)
	}
	res.Report = Check(writes, CheckOptions{Units: res.Units, From: from, End: end, Near: 300 * time.Millisecond, Tail: 2 * time.Second})
	return res
}

// keep copies the nodes' logs and the writers' log into the directory
// FLOTILLA_CHAOS_KEEP names, if it does, to be read after the test.
func (c *Cluster) keep(writers string) {
	dir := os.Getenv("FLOTILLA_CHAOS_KEEP")
	if dir == "" {
		return
	}
	files := []string{writers}
	for _, n := range c.Nodes {
		files = append(files, filepath.Join(c.Dir, n.Name+".log"))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			c.T.Logf("FLOTILLA_CHAOS_KEEP: %v", err)
		}
	}
	c.T.Logf("logs kept in %s", dir)
}

// pickVictim picks a node holding units (any node if none does).
func pickVictim(rng *rand.Rand, nodes []*Node, placed map[string]string) *Node {
	var holding []*Node
	for _, n := range nodes {
		for _, m := range placed {
			if m == n.MachineID() {
				holding = append(holding, n)
				break
			}
		}
	}
	if len(holding) == 0 {
		holding = nodes
	}
	return holding[rng.IntN(len(holding))]
}

// waitMovedOff waits until every unit runs on a machine other than the
// victim's, and says how long that took.
func (c *Cluster) waitMovedOff(names []string, victim *Node, within time.Duration) string {
	start := time.Now()
	err := testutil.EventuallyEvery(100*time.Millisecond, within, func() error {
		on, err := c.placement(names, c.others(victim)...)
		if err != nil {
			return err
		}
		for _, u := range names {
			if m := on[u]; m == "" || m == victim.MachineID() {
				return fmt.Errorf("%s on %q", u, m)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Sprintf("units not moved off: %v", err)
	}
	return fmt.Sprintf("units ran elsewhere after %s", time.Since(start).Round(100*time.Millisecond))
}

// pause SIGSTOPs n's inner fleetd for d and SIGCONTs it. The lifeline's
// watchdog kills a fleetd paused past 9/10 TTL after its last renewal, and
// the outer process then exits: n is started again.
func (c *Cluster) pause(n *Node, d time.Duration) string {
	c.T.Helper()
	inner := n.PID() // without the lifeline fleetd runs etcd and the agent itself
	if !slices.Contains(n.Env, "FLOTILLA_LIFELINE=0") {
		var err error
		if inner, err = n.InnerPID(); err != nil {
			c.T.Fatal(err)
		}
	}
	outer := n.cmd
	exited := make(chan error, 1)
	go func() { exited <- outer.Wait() }()
	must(c.T, syscall.Kill(inner, syscall.SIGSTOP))
	time.Sleep(d)
	// The watchdog may have killed it already: ESRCH is no error here.
	_ = syscall.Kill(inner, syscall.SIGCONT)
	select {
	case err := <-exited:
		n.cmd = nil
		n.log.Close()
		c.Start(n)
		return fmt.Sprintf("stopped %s; the watchdog ended fleetd (%v); restarted", d, err)
	case <-time.After(3 * time.Second):
		return fmt.Sprintf("stopped %s; fleetd went on (no watchdog kill)", d)
	}
}

// Table is a summary per round: kind, victim, whether it was raft
// leader, its units, the duplicates whose second copy started in the
// round, their longest overlap, and the longest gap that ended in it.
func (r FaultResult) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-3s %-5s %-6s %-6s %5s %4s %9s %8s  %s\n", "#", "kind", "victim", "leader", "units", "dups", "overlap", "max gap", "note")
	for i, rd := range r.Rounds {
		to := time.Duration(1<<63 - 1)
		if i+1 < len(r.Rounds) {
			to = r.Rounds[i+1].From
		}
		dups, gap := r.Report.Within(rd.From, to)
		overlap := "-"
		for j, d := range dups {
			if j == 0 || d.Overlap > 0 {
				overlap = d.Overlap.Round(time.Millisecond).String()
			}
		}
		leader := "no"
		if rd.Leader {
			leader = "yes"
		}
		fmt.Fprintf(&b, "%-3d %-5s %-6s %-6s %5d %4d %9s %8s  %s\n", i+1, rd.Kind, rd.Victim, leader, rd.Units, len(dups), overlap,
			gap.Len().Round(100*time.Millisecond), rd.Note)
	}
	return b.String()
}

// LeaderPauseResult is what RunLeaderPause saw.
type LeaderPauseResult struct {
	Victim   string
	Pause    time.Duration
	From     time.Duration // CLOCK_MONOTONIC when the pause began
	Note     string        // what became of the paused fleetd
	Healthy  []string      // units running on the two other nodes before the pause
	Restarts []string      // of those, each that a new copy wrote for after the pause began
	Longest  Gap           // the longest gap of those units from the pause until 10 s after it
	Report   Report

	// The paused node's own units, for the record: its agent resumes past
	// its fence point, and the watchdog may have ended it.
	Paused         []string
	PausedRestarts int
	PausedLongest  Gap
}

// RunLeaderPause: three members on loopback with units on each; SIGSTOP
// the inner fleetd of etcd's raft leader for pause, SIGCONT it, and watch
// the units of the two healthy nodes for two TTLs more.
func RunLeaderPause(t testing.TB, units int, pause time.Duration) LeaderPauseResult {
	t.Helper()
	c := New(t, 3, 0)
	c.StartAll()
	log := filepath.Join(t.TempDir(), "writes.log")
	names := c.StartWriters("lp", units, log)
	time.Sleep(time.Second)
	var leader *Node
	if err := testutil.Eventually(20*time.Second, func() (err error) {
		leader, err = c.RaftLeader()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	placed, err := c.placement(names, c.others(leader)...)
	if err != nil {
		t.Fatal(err)
	}
	res := LeaderPauseResult{Victim: leader.Name, Pause: pause}
	per := map[string]int{}
	for _, u := range names {
		per[placed[u]]++
		if m := placed[u]; m != "" && m != leader.MachineID() {
			res.Healthy = append(res.Healthy, u)
		} else if m != "" {
			res.Paused = append(res.Paused, u)
		}
	}
	for _, n := range c.Nodes {
		if per[n.MachineID()] == 0 {
			t.Fatalf("no unit runs on %s (placement %v): the test needs units on every node", n.Name, per)
		}
	}
	from := Mono()
	res.From = from
	res.Note = c.pause(leader, pause)
	time.Sleep(from + pause + 2*c.TTL() - Mono())
	end := Mono()
	writes, err := ReadWrites(log)
	if err != nil {
		t.Fatal(err)
	}
	res.Report = Check(writes, CheckOptions{Units: res.Healthy, From: from, End: end, Near: 300 * time.Millisecond, Tail: time.Second})
	for _, u := range res.Healthy {
		var fresh []string
		for _, cp := range res.Report.Copies[u] {
			if cp.First > from {
				fresh = append(fresh, fmt.Sprintf("%s on %.8s from %s", cp.ID, cp.Machine, (cp.First-from).Round(time.Millisecond)))
			}
		}
		if len(fresh) > 0 {
			res.Restarts = append(res.Restarts, fmt.Sprintf("%s: new copies %s", u, strings.Join(fresh, ", ")))
		}
		if g := res.Report.Longest[u]; g.Len() > res.Longest.Len() {
			res.Longest = g
		}
	}
	slices.Sort(res.Restarts)
	paused := Check(writes, CheckOptions{Units: res.Paused, From: from, End: end, Near: 300 * time.Millisecond, Tail: time.Second})
	for _, u := range res.Paused {
		for _, cp := range paused.Copies[u] {
			if cp.First > from {
				res.PausedRestarts++
				break
			}
		}
		if g := paused.Longest[u]; g.Len() > res.PausedLongest.Len() {
			res.PausedLongest = g
		}
	}
	return res
}
