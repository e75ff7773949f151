package fleetctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// placeAfter makes the fake agent report name on machine with the given
// systemd states once the states have been polled n more times.
func placeAfter(n int, name, machine, load, active, sub string) func(*fakeFleet, int) {
	start := -1
	return func(f *fakeFleet, polls int) {
		if start < 0 {
			start = polls
		}
		if polls-start+1 >= n {
			f.setState(&schema.UnitState{Name: name, MachineID: machine, SystemdLoadState: load, SystemdActiveState: active, SystemdSubState: sub})
		}
	}
}

func TestSubmitCatReplace(t *testing.T) {
	f := newFakeFleet(t)
	dir := t.TempDir()
	p := writeFile(t, dir, "web.service", "# comment\n[Unit]\nDescription=Web   server\n[Service]\nExecStart=/bin/web \\\n  --port 80\n")

	out, errOut, code := runCtl(t, f.srv.URL, "submit", p)
	if code != 0 || out != "Unit web.service inactive\n" || errOut != "" {
		t.Fatalf("submit = %d %q %q", code, out, errOut)
	}
	out, _, code = runCtl(t, f.srv.URL, "cat", "web")
	want := "[Unit]\nDescription=Web   server\n\n[Service]\nExecStart=/bin/web  --port 80\n"
	if code != 0 || out != want {
		t.Errorf("cat = %d %q, want %q", code, out, want)
	}

	// Same contents again: nothing to do, nothing sent.
	before := countRequests(f, "PUT ")
	if _, _, code := runCtl(t, f.srv.URL, "submit", p); code != 0 || countRequests(f, "PUT ") != before {
		t.Errorf("resubmit: code %d, PUTs %d -> %d", code, before, countRequests(f, "PUT "))
	}

	// Changed file: an error pointing at --replace, the stored unit untouched.
	writeFile(t, dir, "web.service", "[Service]\nExecStart=/bin/web2\n")
	_, errOut, code = runCtl(t, f.srv.URL, "submit", p)
	if code != 1 || !strings.HasPrefix(errOut, "Error: unit web.service in the cluster differs from local unit file "+p) || !strings.Contains(errOut, "--replace") {
		t.Errorf("differing submit = %d %q", code, errOut)
	}
	out, errOut, code = runCtl(t, f.srv.URL, "submit", "--replace", p)
	if code != 0 || out != "Unit web.service replaced\n" {
		t.Errorf("submit --replace = %d %q %q", code, out, errOut)
	}
	f.lock(func() {
		if got := f.units["web.service"]; got.DesiredState != "inactive" || got.Hash != unit.FromOptions(opts(t, "x", "[Service]\nExecStart=/bin/web2\n")).Hash() {
			t.Errorf("stored after replace: %+v", got)
		}
	})

	_, errOut, code = runCtl(t, f.srv.URL, "cat", "nope.service")
	if code != 1 || errOut != "Error: unit nope.service not found\n" {
		t.Errorf("cat missing = %d %q", code, errOut)
	}
	_, errOut, code = runCtl(t, f.srv.URL, "submit", filepath.Join(dir, "missing.service"))
	if code != 1 || !strings.Contains(errOut, "unable to find Unit(missing.service)") {
		t.Errorf("submit missing = %d %q", code, errOut)
	}
}

func TestStartBlocks(t *testing.T) {
	f := clusterFixture(t)
	p := writeFile(t, t.TempDir(), "api.service", "[Service]\nExecStart=/bin/api\n")
	f.lock(func() {
		f.onDesired = func(f *fakeFleet, name, state string) {
			if name == "api.service" && state == "launched" {
				f.onStatePoll = placeAfter(3, name, m1, "loaded", "active", "running")
			}
		}
	})
	out, errOut, code := runCtl(t, f.srv.URL, "start", "--block-attempts", "5", p)
	want := "Unit api.service inactive\nUnit api.service launched on 2c1a4b3d.../10.0.0.1\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("start = %d %q %q, want %q", code, out, errOut, want)
	}
	f.lock(func() {
		if f.units["api.service"].DesiredState != "launched" {
			t.Errorf("desired state %q", f.units["api.service"].DesiredState)
		}
	})
}

func TestStartGivesUp(t *testing.T) {
	f := clusterFixture(t)
	// db.service is in the cluster with an unplaced record and a reason.
	out, errOut, code := runCtl(t, f.srv.URL, "start", "--block-attempts", "3", "db.service")
	if code != 1 || out != "" || errOut != "Error: Unit db.service not placed: no machine matches MachineMetadata=disk=nvme\n" {
		t.Errorf("unplaced start = %d %q %q", code, out, errOut)
	}
	polls := 0
	f.lock(func() { polls = f.statePolls })
	if polls != 3 {
		t.Errorf("%d state polls, want 3 (--block-attempts)", polls)
	}

	// Placed but never active, no reason: fleet's time-out message.
	f.lock(func() {
		f.units["q.service"] = &schema.Unit{Name: "q.service", DesiredState: "loaded"}
		f.setState(&schema.UnitState{Name: "q.service", MachineID: m2, SystemdLoadState: "loaded", SystemdActiveState: "activating", SystemdSubState: "start"})
	})
	_, errOut, code = runCtl(t, f.srv.URL, "start", "--block-attempts", "2", "q.service")
	if code != 1 || errOut != "Error: timed out waiting for unit q.service to report state launched\n" {
		t.Errorf("timed out start = %d %q", code, errOut)
	}
}

func TestNoBlock(t *testing.T) {
	f := newFakeFleet(t)
	p := writeFile(t, t.TempDir(), "web.service", webUnit)
	out, _, code := runCtl(t, f.srv.URL, "start", "--no-block", p)
	if code != 0 || out != "Unit web.service inactive\nTriggered unit web.service start\n" {
		t.Errorf("start --no-block = %d %q", code, out)
	}
	if n := countRequests(f, "GET /fleet/v1/state"); n != 0 {
		t.Errorf("--no-block polled states %d times", n)
	}
}

func TestGlobalUnitNotWaited(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() { f.units["mon.service"].DesiredState = "loaded" })
	out, _, code := runCtl(t, f.srv.URL, "start", "mon")
	if code != 0 || out != "Triggered global unit mon.service start\n" {
		t.Errorf("start global = %d %q", code, out)
	}
}

func TestLoadStopUnloadDestroy(t *testing.T) {
	f := clusterFixture(t)
	p := writeFile(t, t.TempDir(), "api.service", "[Service]\nExecStart=/bin/api\n")
	f.lock(func() {
		f.onDesired = func(f *fakeFleet, name, state string) {
			switch state {
			case "loaded":
				f.onStatePoll = placeAfter(2, name, m2, "loaded", "inactive", "dead")
			case "inactive":
				f.onStatePoll = func(f *fakeFleet, _ int) { f.removeStates(name) }
			}
		}
	})
	out, _, code := runCtl(t, f.srv.URL, "load", p)
	if code != 0 || out != "Unit api.service inactive\nUnit api.service loaded on 9f8e7d6c.../10.0.0.2\n" {
		t.Errorf("load = %d %q", code, out)
	}

	// web.service runs on m1; stop waits until it no longer runs.
	f.lock(func() {
		f.onDesired = func(f *fakeFleet, name, state string) {
			f.onStatePoll = placeAfter(3, name, m1, "loaded", "inactive", "dead")
		}
	})
	out, _, code = runCtl(t, f.srv.URL, "stop", "web.service")
	if code != 0 || out != "Unit web.service loaded on 2c1a4b3d.../10.0.0.1\n" {
		t.Errorf("stop = %d %q", code, out)
	}

	unloading := map[string]bool{}
	f.lock(func() {
		f.onDesired = func(f *fakeFleet, name, state string) { unloading[name] = true }
		f.onStatePoll = func(f *fakeFleet, polls int) {
			for n := range unloading {
				f.removeStates(n)
			}
		}
	})
	out, _, code = runCtl(t, f.srv.URL, "unload", "web.service", "api")
	if code != 0 || out != "Unit web.service inactive\nUnit api.service inactive\n" {
		t.Errorf("unload = %d %q", code, out)
	}
	_, errOut, code := runCtl(t, f.srv.URL, "stop", "web.service")
	if code != 1 || !strings.Contains(errOut, "unable to stop unit web.service in state inactive") {
		t.Errorf("stop inactive = %d %q", code, errOut)
	}
	// fleet's findUnits skips a missing unit; we also say so.
	_, errOut, code = runCtl(t, f.srv.URL, "unload", "ghost.service")
	if code != 0 || errOut != "Unit not found, skipped: ghost.service\n" {
		t.Errorf("unload missing = %d %q", code, errOut)
	}

	out, _, code = runCtl(t, f.srv.URL, "destroy", "web.service", "ghost.service", "api.service")
	if code != 0 || out != "Destroyed web.service\nDestroyed api.service\n" {
		t.Errorf("destroy = %d %q", code, out)
	}
	f.lock(func() {
		if _, ok := f.units["web.service"]; ok {
			t.Error("web.service survived destroy")
		}
	})
}

func TestTemplateInstanceFromLocalFile(t *testing.T) {
	f := newFakeFleet(t)
	dir := t.TempDir()
	writeFile(t, dir, "worker@.service", "[Service]\nExecStart=/bin/worker %i\n")
	out, errOut, code := runCtl(t, f.srv.URL, "start", "--no-block", filepath.Join(dir, "worker@1.service"), filepath.Join(dir, "worker@2"))
	if code != 0 || out != "Unit worker@1.service inactive\nUnit worker@2.service inactive\nTriggered unit worker@1.service start\nTriggered unit worker@2.service start\n" {
		t.Fatalf("start instances = %d %q %q", code, out, errOut)
	}
	f.lock(func() {
		if _, ok := f.units["worker@.service"]; ok {
			t.Error("the template itself was submitted")
		}
		u := f.units["worker@1.service"]
		if u == nil || u.DesiredState != "launched" || unit.FromOptions(u.Options).String() != "[Service]\nExecStart=/bin/worker %i\n" {
			t.Errorf("instance: %+v", u)
		}
	})

	// A template in the cluster wins over none on disk.
	f.lock(func() {
		o := opts(t, "x", "[Service]\nExecStart=/bin/cluster %i\n")
		f.units["job@.service"] = &schema.Unit{Name: "job@.service", Options: o, Hash: unit.FromOptions(o).Hash(), DesiredState: "inactive"}
	})
	if _, _, code := runCtl(t, f.srv.URL, "submit", filepath.Join(dir, "job@7.service")); code != 0 {
		t.Errorf("instance of cluster template: %d", code)
	}
	_, errOut, code = runCtl(t, f.srv.URL, "submit", filepath.Join(dir, "none@1.service"))
	if code != 1 || !strings.Contains(errOut, "template Unit(none@.service)") {
		t.Errorf("missing template = %d %q", code, errOut)
	}
}

func TestServerErrorVerbatim(t *testing.T) {
	f := newFakeFleet(t)
	const msg = "unit web.service: [X-Fleet] Global: Global=true cannot be combined with MachineOf"
	f.lock(func() {
		f.validate = func(u *schema.Unit) string {
			if isGlobal(u.Options) {
				return msg
			}
			return ""
		}
	})
	p := writeFile(t, t.TempDir(), "web.service", "[Service]\nExecStart=/bin/web\n[X-Fleet]\nGlobal=true\nMachineOf=db.service\n")
	out, errOut, code := runCtl(t, f.srv.URL, "start", p)
	if code != 1 || out != "" || errOut != "Error: "+msg+"\n" {
		t.Errorf("start = %d %q %q", code, out, errOut)
	}
}

func TestConnectionErrorNamesEndpoint(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, errOut, code := runCtlEnv(t, t.Context(), nil, "--endpoint", "unix://"+sock, "list-machines")
	if code != 1 || !strings.Contains(errOut, "unix://"+sock) || !strings.Contains(errOut, "--endpoint or FLEETCTL_ENDPOINT") {
		t.Errorf("unreachable = %d %q", code, errOut)
	}
}

func TestEachFailureOnItsOwnLine(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() {
		f.units["q.service"] = &schema.Unit{Name: "q.service", DesiredState: "launched"}
	})
	_, errOut, code := runCtl(t, f.srv.URL, "start", "--block-attempts", "1", "db", "q")
	want := "Error: Unit db.service not placed: no machine matches MachineMetadata=disk=nvme\n" +
		"Error: timed out waiting for unit q.service to report state launched\n"
	if code != 1 || errOut != want {
		t.Errorf("start = %d %q, want %q", code, errOut, want)
	}
}

func TestInterruptedWait(t *testing.T) {
	f := clusterFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.lock(func() {
		f.onStatePoll = func(f *fakeFleet, n int) {
			if n == 3 {
				cancel() // as SIGINT would, while start waits forever (--block-attempts 0)
			}
		}
	})
	_, errOut, code := runCtlEnv(t, ctx, map[string]string{"FLEETCTL_ENDPOINT": f.srv.URL}, "start", "db.service")
	if code != 1 || errOut != "Error: interrupted\n" {
		t.Errorf("interrupted start = %d %q", code, errOut)
	}
}

// TestStartStopsWaitingOnFailure: a unit that ends failed (say, a bad image)
// is reported at once with its reason, not waited for until the attempts run
// out. The node's clock may lag the client's: a failure that comes after the
// start counts even when its Since is older than the client's now.
func TestStartStopsWaitingOnFailure(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() {
		f.units["bad.service"] = &schema.Unit{Name: "bad.service", DesiredState: "loaded"}
		f.onDesired = func(f *fakeFleet, name, state string) {
			if name == "bad.service" && state == "launched" {
				f.setState(&schema.UnitState{Name: "bad.service", MachineID: m2, SystemdLoadState: "loaded",
					SystemdActiveState: "failed", SystemdSubState: "failed", Reason: "pull x: not found", Since: "2020-01-01T00:00:00Z"})
			}
		}
	})
	_, errOut, code := runCtl(t, f.srv.URL, "start", "--block-attempts", "20", "bad.service")
	if code != 1 || !strings.Contains(errOut, "unit bad.service failed on") || !strings.Contains(errOut, "pull x: not found") {
		t.Errorf("start of a failed unit = %d %q", code, errOut)
	}
	polls := 0
	f.lock(func() { polls = f.statePolls })
	if polls != 2 { // the failures before the start, then the first wait
		t.Errorf("%d state polls, want 2", polls)
	}

	// A failure from before the command is an earlier run's: keep waiting.
	f.lock(func() {
		f.onDesired = nil
		f.units["old.service"] = &schema.Unit{Name: "old.service", DesiredState: "loaded"}
		f.setState(&schema.UnitState{Name: "old.service", MachineID: m2, SystemdLoadState: "loaded",
			SystemdActiveState: "failed", SystemdSubState: "failed", Reason: "exit-code 1", Since: "2020-01-01T00:00:00Z"})
	})
	f.lock(func() { polls = f.statePolls })
	_, errOut, code = runCtl(t, f.srv.URL, "start", "--block-attempts", "3", "old.service")
	f.lock(func() { polls = f.statePolls - polls })
	if code != 1 || polls != 4 || !strings.Contains(errOut, "Unit old.service failed on") {
		t.Errorf("start over an old failure = %d %q after %d polls, want to use all 3 attempts", code, errOut, polls)
	}

	// Started already and failed: this start changes nothing, so it does not wait.
	f.lock(func() {
		f.units["old.service"].DesiredState = "launched"
		polls = f.statePolls
	})
	_, errOut, code = runCtl(t, f.srv.URL, "start", "--block-attempts", "20", "old.service")
	f.lock(func() { polls = f.statePolls - polls })
	if code != 1 || polls != 1 || !strings.Contains(errOut, "unit old.service failed on") || !strings.Contains(errOut, "exit-code 1") {
		t.Errorf("start of a launched, failed unit = %d %q after %d polls, want its failure at once", code, errOut, polls)
	}
}

// TestStartRetriesFailedPolls: a state poll that fails (a node too slow to
// answer within --request-timeout) does not end start's wait, as fleet's
// assertUnitState retries; it counts as an attempt, and when the attempts
// run out on failed polls the error says why.
func TestStartRetriesFailedPolls(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() {
		f.units["slow.service"] = &schema.Unit{Name: "slow.service", DesiredState: "loaded"}
		f.onStatePoll = func(f *fakeFleet, n int) {
			switch n {
			case 2, 3: // the first two polls of the wait
				f.failPoll = true
			case 4:
				f.setState(&schema.UnitState{Name: "slow.service", MachineID: m2, SystemdLoadState: "loaded",
					SystemdActiveState: "active", SystemdSubState: "running"})
			}
		}
	})
	out, errOut, code := runCtl(t, f.srv.URL, "start", "--block-attempts", "10", "slow.service")
	if code != 0 || !strings.Contains(out, "Unit slow.service launched on") || strings.Count(errOut, "Error retrieving unit states (retrying)") != 1 {
		t.Errorf("start over two failed polls = %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	f.lock(func() {
		f.units["down.service"] = &schema.Unit{Name: "down.service", DesiredState: "loaded"}
		f.statePolls = 0
		f.onStatePoll = func(f *fakeFleet, n int) { f.failPoll = n > 1 }
	})
	_, errOut, code = runCtl(t, f.srv.URL, "start", "--block-attempts", "3", "down.service")
	polls := 0
	f.lock(func() { polls = f.statePolls })
	if code != 1 || polls != 4 || !strings.Contains(errOut, "waiting for units:") || !strings.Contains(errOut, "etcd: request timed out") {
		t.Errorf("start with every poll failing = %d after %d polls, stderr %q", code, polls, errOut)
	}
}
