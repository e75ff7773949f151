package qemutest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

// unitRow is one line of list-units --no-legend --full --fields unit,machine,active.
type unitRow struct{ unit, machine, active string }

func listUnits(t *testing.T, out string, n *node) (map[string]unitRow, error) {
	o, err := fleetctl(t, out, n, "list-units", "--no-legend", "--full", "--fields", "unit,machine,active")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, o)
	}
	rows := map[string]unitRow{}
	for _, line := range strings.Split(strings.TrimSpace(o), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			rows[f[0]] = unitRow{f[0], f[1], f[2]}
		}
	}
	return rows, nil
}

// machineOf strips fleet's "id/ip" MACHINE column to the id.
func machineOf(r unitRow) string { return strings.SplitN(r.machine, "/", 2)[0] }

// tour runs one command of the README's tour as written: in bash, from the
// repository's root, with fleetctl.env sourced and OUT set as
// scripts/cluster.sh has it.
func tour(t *testing.T, tourOut, command string) (string, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -e; source \"$OUT/fleetctl.env\"; "+command)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "OUT="+tourOut)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	t.Logf("$ %s (%.1f s)\n%s", command, time.Since(start).Seconds(), b)
	return string(b), err
}

func mustTour(t *testing.T, tourOut, command string) string {
	t.Helper()
	o, err := tour(t, tourOut, command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, o)
	}
	return o
}

// TestThreeNodes boots three VMs, each with its own disk, on a bridge inside
// a network namespace made here. They form a three-member etcd cluster over
// mutual TLS. Then the README's tour runs, command by command, as written
// (tour): units/ is submitted, its plain units run /bin/sh lines on the
// root's shell, the container template web@.service runs two instances on
// two machines (Conflicts) and logs, caller.service beside web@2
// (MachineOf) fetches web@1's page by name over the cluster network, and
// `scripts/cluster.sh kill web@1.service` SIGKILLs the QEMU running web@1;
// web@1 then runs on the machine that had no web instance, the other units
// of the dead node (movers) run on the other two, in a time that is
// printed, and the caller reaches web@1 by the same name at its new
// address. Units with
// Conflicts spread over the three, and the one of the dead node stays off
// the machines that hold its siblings. A start of a unit whose ExecStart
// does not exist ends with its reason.
func TestThreeNodes(t *testing.T) {
	needVM(t)
	testenv.NeedRoot(t)
	res, out := image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	opts := vmOptions(t, res, out, os.Getenv("FLOTILLA_QEMU_KERNEL") == "")
	c, err := vmcluster.BootCluster(ctx, opts, fmt.Sprintf("flt-qemu-%d", os.Getpid()%10000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	nodes := c.Nodes
	for _, n := range nodes {
		waitReady(t, ctx, n)
	}
	// What scripts/cluster.sh leaves in its OUT: fleetctl.env (through a
	// forwarder to the first live node) and each QEMU's pid.
	tourOut := t.TempDir()
	must(t, os.Mkdir(filepath.Join(tourOut, "vms"), 0o755))
	must(t, c.WritePIDs(filepath.Join(tourOut, "vms")))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	c.ForwardAPI(l)
	must(t, vmcluster.WriteFleetctlEnv(filepath.Join(tourOut, "fleetctl.env"), out, l.Addr().(*net.TCPAddr).Port))

	eventually(t, 120*time.Second, "three machines", func() error {
		o, err := tour(t, tourOut, "fleetctl list-machines")
		if err != nil {
			return fmt.Errorf("%v: %s", err, o)
		}
		if n := len(strings.Split(strings.TrimSpace(o), "\n")); n != 4 { // the header and three
			return fmt.Errorf("%d lines:\n%s", n, o)
		}
		return nil
	})

	// A unit that cannot start ends `fleetctl start` with its reason (issue 14).
	dir := t.TempDir()
	bad := writeUnit(t, dir, "bad.service", "[Service]\nExecStart=/nonexistent/sh -c 'sleep 1'\n")
	begin := time.Now()
	o, err := fleetctl(t, out, nodes[0], "start", bad)
	took := time.Since(begin)
	t.Logf("fleetctl start of a unit whose ExecStart does not exist ended after %.1f s: %v\n%s", took.Seconds(), err, o)
	if err == nil || !strings.Contains(o, "unit bad.service failed on") || !strings.Contains(o, "/nonexistent/sh") || took > 60*time.Second {
		t.Errorf("start of a unit whose ExecStart does not exist: %v after %.1f s\n%s", err, took.Seconds(), o)
	}

	// The tour, up to the kill.
	mustTour(t, tourOut, "fleetctl submit units/*.service")
	if o := mustTour(t, tourOut, "fleetctl list-unit-files"); !strings.Contains(o, "web@.service") || !strings.Contains(o, "heartbeat.service") {
		t.Errorf("list-unit-files lacks units/:\n%s", o)
	}
	mustTour(t, tourOut, "fleetctl start units/hello.service units/heartbeat.service units/clock.service")
	mustTour(t, tourOut, "fleetctl start units/web@1.service units/web@2.service")
	mustTour(t, tourOut, "fleetctl start units/caller.service")

	var files []string
	for i := 1; i <= 3; i++ {
		files = append(files, writeUnit(t, dir, fmt.Sprintf("spread@%d.service", i),
			"[Service]\nExecStart=/usr/bin/fleetctl --version\nType=oneshot\nRemainAfterExit=yes\n\n[X-Fleet]\nConflicts=spread@*\n"))
	}
	for i := 1; i <= 6; i++ {
		files = append(files, writeUnit(t, dir, fmt.Sprintf("mover@%d.service", i),
			"[Service]\nExecStart=/bin/sh -c 'echo mover %i on $$(hostname); exec sleep 100000'\n"))
	}
	if o, err := fleetctl(t, out, nodes[0], append([]string{"start", "--no-block"}, files...)...); err != nil {
		t.Fatalf("fleetctl start: %v\n%s", err, o)
	}
	var rows map[string]unitRow
	eventually(t, 180*time.Second, "every unit active", func() error {
		rows, err = listUnits(t, out, nodes[0])
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.active != "active" && r.unit != "bad.service" {
				return fmt.Errorf("%s is %s", r.unit, r.active)
			}
		}
		// 3 spread, 6 movers, bad, hello, clock, web@1, web@2, caller and
		// one heartbeat row per machine.
		if len(rows) != 3+6+1+1+1+2+1+1 {
			return fmt.Errorf("%d units listed", len(rows))
		}
		return nil
	})
	o = mustTour(t, tourOut, "fleetctl list-units")
	if strings.Count(o, "heartbeat.service") != 3 {
		t.Errorf("the Global heartbeat.service is not on all three machines:\n%s", o)
	}
	spreadOn := map[string]string{}
	for i := 1; i <= 3; i++ {
		u := fmt.Sprintf("spread@%d.service", i)
		m := machineOf(rows[u])
		if other, dup := spreadOn[m]; dup {
			t.Fatalf("Conflicts=spread@* broken: %s and %s both on %s", other, u, m)
		}
		spreadOn[m] = u
	}
	web1, web2 := machineOf(rows["web@1.service"]), machineOf(rows["web@2.service"])
	if web1 == web2 {
		t.Fatalf("Conflicts=web@*.service broken: web@1 and web@2 both on %s", web1)
	}
	eventually(t, 60*time.Second, "web@1's log", func() error {
		if o, _ := tour(t, tourOut, "fleetctl journal web@1.service"); !strings.Contains(o, "web 1 serving /www on port 80") {
			return fmt.Errorf("no serving line:\n%s", o)
		}
		return nil
	})
	if c := machineOf(rows["caller.service"]); c != web2 {
		t.Errorf("MachineOf=web@2.service broken: caller on %s, web@2 on %s", c, web2)
	}
	// Issue 10 across VMs: caller, a container beside web@2, fetches web@1's
	// page by name (1.web.flotilla) from another machine over the cluster network.
	var web1Addr string
	eventually(t, 90*time.Second, "caller reaches web 1 by name", func() error {
		o, _ := tour(t, tourOut, "fleetctl journal caller.service")
		web1Addr = servedAddr(o)
		if web1Addr == "" {
			return fmt.Errorf("no page fetched by name yet:\n%s", o)
		}
		return nil
	})
	mustTour(t, tourOut, "fleetctl list-services")
	eventually(t, 60*time.Second, "clock.service's log", func() error {
		if o, _ := tour(t, tourOut, "fleetctl journal clock.service"); !strings.Contains(o, "UTC 20") {
			return fmt.Errorf("no date from /bin/sh's date:\n%s", o)
		}
		return nil
	})

	// Which node runs web@1, and its etcd role: a dead raft leader takes
	// longer (README, "What doesn't yet").
	o, err = fleetctl(t, out, nodes[0], "list-machines", "--no-legend", "--full", "--fields", "machine,metadata,etcd")
	if err != nil {
		t.Fatalf("list-machines: %v\n%s", err, o)
	}
	victim, victimRole, victimK := web1, "", 0
	for _, line := range strings.Split(o, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == victim {
			victimRole = f[2]
			fmt.Sscanf(f[1][strings.Index(f[1], "node=")+len("node="):], "%d", &victimK)
		}
	}
	if victimK == 0 {
		t.Fatalf("no node=K metadata for web@1's machine %s:\n%s", victim, o)
	}
	alive := nodes[0]
	if victimK == 1 {
		alive = nodes[1]
	}
	var moved []string
	for u, r := range rows {
		if machineOf(r) == victim && strings.HasPrefix(u, "mover@") {
			moved = append(moved, u)
		}
	}
	t.Logf("killing node-%d (%s), which runs web@1, %v and %s", victimK, victim, moved, spreadOn[victim])
	killed := time.Now()
	if o := mustTour(t, tourOut, "bash scripts/cluster.sh kill web@1.service"); !strings.Contains(o, fmt.Sprintf("killed node-%d", victimK)) {
		t.Errorf("cluster.sh kill web@1.service did not kill node-%d:\n%s", victimK, o)
	}
	nodes[victimK-1].VM.Wait(10 * time.Second)
	if !nodes[victimK-1].VM.Exited() {
		t.Fatalf("node-%d's QEMU still runs after cluster.sh kill", victimK)
	}
	eventuallyEvery(t, 100*time.Millisecond, 60*time.Second, "movers running elsewhere", func() error {
		rows, err = listUnits(t, out, alive)
		if err != nil {
			return err
		}
		for u, r := range rows {
			if strings.HasPrefix(u, "mover@") && (r.active != "active" || machineOf(r) == victim) {
				return fmt.Errorf("%s: %s on %s", u, r.active, r.machine)
			}
		}
		return nil
	})
	failover := time.Since(killed)
	fmt.Printf("qemu-test: failover of a killed VM (%d units moved, etcd %s): %.1f s\n", len(moved), victimRole, failover.Seconds())
	t.Logf("failover of a killed VM (%d units moved, etcd %s): %.1f s", len(moved), victimRole, failover.Seconds())
	if r := rows[spreadOn[victim]]; r.active == "active" {
		t.Errorf("%s runs on %s although Conflicts forbids every remaining machine", r.unit, r.machine)
	}

	// The rest of the tour: web@1 runs again, on the machine that had no
	// web instance, and logs there.
	eventually(t, 180*time.Second, "web@1 moved", func() error {
		o, err := tour(t, tourOut, "fleetctl list-units")
		if err != nil {
			return err
		}
		rows, err = listUnits(t, out, alive)
		if err != nil {
			return err
		}
		if r := rows["web@1.service"]; r.active != "active" || machineOf(r) == victim || machineOf(r) == web2 {
			return fmt.Errorf("web@1 %s on %s:\n%s", r.active, r.machine, o)
		}
		return nil
	})
	t.Logf("web@1 active on another machine %.1f s after the kill", time.Since(killed).Seconds())
	eventually(t, 60*time.Second, "web@1's log after the move", func() error {
		if o, _ := tour(t, tourOut, "fleetctl journal web@1.service"); !strings.Contains(o, "web 1 serving /www on port 80") {
			return fmt.Errorf("no serving line:\n%s", o)
		}
		return nil
	})
	// The caller, which did not move, reaches web@1 by the same name at its
	// new address.
	eventually(t, 60*time.Second, "caller reaches web 1 at its new home", func() error {
		o, _ := tour(t, tourOut, "fleetctl journal caller.service")
		if a := servedAddr(o); a == "" || a == web1Addr {
			return fmt.Errorf("the last page fetched by name came from %q (before the kill: %s):\n%s", a, web1Addr, o)
		}
		return nil
	})
	fmt.Printf("qemu-test: a request by name served from web@1's new home within %.1f s of the kill\n", time.Since(killed).Seconds())
}

// servedAddr is the address of the last line of caller.service's journal
// that shows web 1's page ("1.web.flotilla is ADDR: hello from flotilla"),
// or "".
func servedAddr(journal string) string {
	lines := strings.Split(strings.TrimSpace(journal), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		_, rest, ok := strings.Cut(lines[i], "1.web.flotilla is ")
		if addr, page, ok2 := strings.Cut(rest, ": "); ok && ok2 && strings.Contains(page, "hello from flotilla") {
			return addr
		}
	}
	return ""
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
