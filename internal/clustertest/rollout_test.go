package clustertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/rollout"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestRollout (issue 11): ten instances of a busybox httpd template on a
// three-member loopback cluster.
//   - a rollout with --max-unavailable 1 --min-healthy 500ms, with a client
//     looping against the instances (by address: by name once DNS is in),
//     fails no request and ends with every instance on the new revision;
//   - bad input (an unknown unit, an unknown hash, --max-unavailable 0)
//     is refused and changes nothing;
//   - a revision whose ExecStart fails, or whose health check never
//     passes, stops after the first instance and reverts it;
//   - the engine leader SIGKILLed mid-rollout: the new leader finishes it;
//   - history lists the revisions; rollback goes back through a rollout;
//   - a Global unit is replaced machine by machine, health-gated: a
//     failing revision stops after the first machine and is reverted;
//   - restart --rolling restarts every instance, no request failing.
func TestRollout(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	dir := c.ServeDir()
	ports := FreePorts(t, 10)
	var names []string
	for _, p := range ports {
		names = append(names, fmt.Sprintf("web@%d.service", p))
	}
	v1 := HTTPTemplate(dir, 1, "")
	c.WriteUnit("web@.service", v1)
	c.MustFleetctl("submit", "web@.service")
	c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
	if err := c.WaitHash(names, UnitHash(t, "web@.service", v1), 60*time.Second); err != nil {
		t.Fatal(err)
	}

	t.Run("no request fails", func(t *testing.T) {
		v2 := HTTPTemplate(dir, 2, "")
		c.WriteUnit("web@.service", v2)
		loop := Loop(ports, 4)
		start := time.Now()
		c.MustFleetctl("rollout", "--max-unavailable", "1", "--min-healthy", "500ms", "web@.service")
		took := time.Since(start)
		time.Sleep(300 * time.Millisecond)
		loop.Stop()
		t.Logf("rollout of 10 instances took %s; %d requests ok, %d failed", took.Round(time.Millisecond), loop.OK.Load(), loop.Failed.Load())
		if loop.Failed.Load() != 0 {
			t.Errorf("%d requests failed: %v", loop.Failed.Load(), loop.Errors)
		}
		if loop.OK.Load() < 100 {
			t.Errorf("only %d requests made: the client did not loop", loop.OK.Load())
		}
		if err := c.WaitHash(names, UnitHash(t, "web@.service", v2), 10*time.Second); err != nil {
			t.Error(err)
		}
	})
	v2hash := UnitHash(t, "web@.service", HTTPTemplate(dir, 2, ""))

	t.Run("bad input changes nothing", func(t *testing.T) {
		before, err := c.Client().Rollouts(context.Background())
		must(t, err)
		c.WriteUnit("nope.service", "[Service]\nExecStart=/bin/sleep 1\n")
		c.WriteUnit("web@.service", HTTPTemplate(dir, 9, ""))
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"rollout", "nope.service"}, "unit nope.service not found"},
			{[]string{"rollback", "--to", "deadbeef00", names[0]}, "no kept revision deadbeef00"},
			{[]string{"rollout", "--max-unavailable", "0", "web@.service"}, "--max-unavailable 0"},
			{[]string{"start", "--rolling", names[0]}, "needs --replace"},
		} {
			out, errOut, err := c.Fleetctl(tc.args...)
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Errorf("fleetctl %s: err %v, stderr %q, stdout %q; want an error saying %q", strings.Join(tc.args, " "), err, errOut, out, tc.want)
			}
		}
		after, err := c.Client().Rollouts(context.Background())
		must(t, err)
		if len(after) != len(before) {
			t.Errorf("rollouts before %d, after %d: bad input recorded one", len(before), len(after))
		}
		if u, _ := c.Client().Unit(context.Background(), names[0]); u == nil || u.Hash != v2hash {
			t.Errorf("%s changed by bad input: %+v", names[0], u)
		}
	})

	t.Run("failing revision reverts", func(t *testing.T) {
		bad := "[Service]\nEnvironment=REV=3\nExecStart=/bin/sh -c 'exit 3'\n"
		c.WriteUnit("web@.service", bad)
		loop := Loop(ports, 2)
		_, errOut, err := c.Fleetctl("rollout", "--min-healthy", "1s", "--deadline", "20s", "web@.service")
		loop.Stop()
		if err == nil || !strings.Contains(errOut, "reverted") {
			t.Fatalf("rollout of a failing revision: err %v, stderr %q; want it reverted", err, errOut)
		}
		ro, err := c.Client().Rollout(context.Background(), "web@.service")
		must(t, err)
		n := ro.Counts()
		if n[rollout.ItemFail] != 1 || n[rollout.Pending] != len(names)-1 {
			t.Errorf("after the failure: %v; want 1 failed, the rest never touched", n)
		}
		if err := c.WaitHash(names, v2hash, 20*time.Second); err != nil {
			t.Error(err)
		}
		out := c.MustFleetctl("rollout", "status", "web@.service")
		if !strings.Contains(out, "reverted: 0/10 done") || strings.Count(out, "pending") != 9 || !strings.Contains(out, "1 failed") {
			t.Errorf("rollout status web@.service:\n%s\nwant reverted, 1 failed, 9 pending", out)
		}
		if out := c.MustFleetctl("rollout", "status"); !strings.Contains(out, "web@.service") || !strings.Contains(out, "reverted") {
			t.Errorf("rollout status:\n%s\nwant web@.service reverted", out)
		}
		if loop.Failed.Load() != 0 {
			t.Errorf("%d requests failed during the failed rollout: %v", loop.Failed.Load(), loop.Errors)
		}
	})

	t.Run("unhealthy revision reverts", func(t *testing.T) {
		// The new revision runs, but its health check never passes (a
		// port nothing listens on): the first instance turns unhealthy,
		// the rollout stops there and puts v2 back.
		sick := HTTPTemplate(dir, 4, "[X-Fleet]\nHealthCheck=tcp://127.0.0.1:1\nHealthCheckInterval=1s\nHealthCheckRetries=1\n")
		c.WriteUnit("web@.service", sick)
		loop := Loop(ports, 2)
		_, errOut, err := c.Fleetctl("rollout", "--min-healthy", "1s", "--deadline", "30s", "web@.service")
		loop.Stop()
		if err == nil || !strings.Contains(errOut, "reverted") {
			t.Fatalf("rollout of an unhealthy revision: err %v, stderr %q; want it reverted", err, errOut)
		}
		ro, err := c.Client().Rollout(context.Background(), "web@.service")
		must(t, err)
		if n := ro.Counts(); n[rollout.ItemFail] != 1 || n[rollout.Pending] != len(names)-1 {
			t.Errorf("after the unhealthy instance: %v; want 1 failed, the rest never touched", n)
		}
		if !strings.Contains(ro.Reason, "unhealthy") {
			t.Errorf("rollout ended %q; want it to name the unhealthy instance", ro.Reason)
		}
		if err := c.WaitHash(names, v2hash, 20*time.Second); err != nil {
			t.Error(err)
		}
		if loop.Failed.Load() != 0 {
			t.Errorf("%d requests failed during the unhealthy rollout: %v", loop.Failed.Load(), loop.Errors)
		}
	})

	t.Run("history and rollback", func(t *testing.T) {
		out := c.MustFleetctl("history", names[0])
		if !strings.Contains(out, v2hash) || strings.Count(out, "\n") < 4 || !strings.Contains(out, "failed") {
			t.Errorf("history of %s:\n%s\nwant v1, v2 and v3 (failed), v2 current", names[0], out)
		}
		t.Logf("fleetctl history %s:\n%s", names[0], out)
		c.MustFleetctl("rollback", "--min-healthy", "200ms", "--max-unavailable", "3", "web@.service")
		if err := c.WaitHash(names, UnitHash(t, "web@.service", v1), 20*time.Second); err != nil {
			t.Error(err)
		}
	})

	t.Run("global unit machine by machine", func(t *testing.T) {
		g1 := "[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nGlobal=true\n"
		c.WriteUnit("g.service", g1)
		c.MustFleetctl("start", "g.service")
		waitGlobal := func(hash string) error {
			return testutil.Eventually(30*time.Second, func() error {
				st, err := c.States()
				if err != nil {
					return err
				}
				n := 0
				for _, s := range st["g.service"] {
					if s.SystemdActiveState == "active" && s.Hash == hash {
						n++
					}
				}
				if n != 3 {
					return fmt.Errorf("g.service active with %.7s on %d machines, want 3", hash, n)
				}
				return nil
			})
		}
		if err := waitGlobal(UnitHash(t, "g.service", g1)); err != nil {
			t.Fatal(err)
		}
		c.WriteUnit("g.service", "[Service]\nExecStart=/bin/sh -c 'exit 3'\n[X-Fleet]\nGlobal=true\n")
		if _, errOut, err := c.Fleetctl("rollout", "--min-healthy", "1s", "g.service"); err == nil || !strings.Contains(errOut, "reverted") {
			t.Fatalf("failing global rollout: %v %q; want reverted", err, errOut)
		}
		ro, err := c.Client().Rollout(context.Background(), "g.service")
		must(t, err)
		if n := ro.Counts(); len(ro.Items) != 3 || n[rollout.ItemFail] != 1 || n[rollout.Pending] != 2 {
			t.Errorf("failing global rollout: %d items %v; want 3 (one per machine), 1 failed, 2 untouched", len(ro.Items), n)
		}
		if err := waitGlobal(UnitHash(t, "g.service", g1)); err != nil {
			t.Fatal(err)
		}
		g3 := "[Service]\nExecStart=/bin/sleep 999\n[X-Fleet]\nGlobal=true\n"
		c.WriteUnit("g.service", g3)
		out := c.MustFleetctl("start", "--replace", "--rolling", "--min-healthy", "300ms", "g.service")
		if !strings.Contains(out, "Rollout g.service done: 3/3") {
			t.Errorf("start --replace --rolling g.service:\n%s\nwant a rollout over its 3 machines", out)
		}
		if err := waitGlobal(UnitHash(t, "g.service", g3)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("rolling restart", func(t *testing.T) {
		pids := func() map[string]int {
			st, err := c.States()
			must(t, err)
			out := map[string]int{}
			for _, n := range names {
				for _, s := range st[n] {
					if s.SystemdActiveState == "active" {
						out[n] = s.PID
					}
				}
			}
			return out
		}
		before := pids()
		loop := Loop(ports, 4)
		c.MustFleetctl(append([]string{"restart", "--rolling", "--max-unavailable", "2", "--min-healthy", "300ms"}, names...)...)
		loop.Stop()
		after := pids()
		for _, n := range names {
			if before[n] == 0 || after[n] == 0 || before[n] == after[n] {
				t.Errorf("%s: pid %d before, %d after; want it restarted", n, before[n], after[n])
			}
		}
		if loop.Failed.Load() != 0 || loop.OK.Load() == 0 {
			t.Errorf("during the rolling restart: %d ok, %d failed %v", loop.OK.Load(), loop.Failed.Load(), loop.Errors)
		}
	})

	t.Run("leader killed mid-rollout", func(t *testing.T) {
		v4 := HTTPTemplate(dir, 4, "")
		c.WriteUnit("web@.service", v4)
		c.MustFleetctl("rollout", "--no-block", "--min-healthy", "1s", "web@.service")
		if err := testutil.Eventually(30*time.Second, func() error {
			ro, err := c.Client().Rollout(context.Background(), "web@.service")
			if err != nil {
				return err
			}
			if n := ro.Counts()[rollout.ItemDone]; n < 2 {
				return fmt.Errorf("%d done", n)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		victim := nodeOf(c, engineLeaderOf(t, c))
		t.Logf("killing the engine leader %s", victim.Name)
		c.Kill(victim)
		t.Cleanup(func() { c.Start(victim) })
		if err := testutil.Eventually(90*time.Second, func() error {
			ro, err := c.Client().Rollout(context.Background(), "web@.service")
			if err != nil {
				return err
			}
			if ro.State != rollout.Done {
				return fmt.Errorf("rollout %s: %v %s", ro.State, ro.Counts(), ro.Reason)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitHash(names, UnitHash(t, "web@.service", v4), 30*time.Second); err != nil {
			t.Error(err)
		}
	})
}

// engineLeader is the machine ID of the engine leader.
func engineLeaderOf(t *testing.T, c *Cluster) string {
	t.Helper()
	cli, err := c.EtcdClient(c.firstRunning())
	must(t, err)
	defer cli.Close()
	id, err := engineLeader(cli)
	must(t, err)
	return id
}
