package rollout

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newRollout(n, maxUnavail int) *Rollout {
	r := &Rollout{Name: "web@.service", Units: map[string]Revs{}, MaxUnavailable: maxUnavail,
		MinHealthy: 2 * time.Second, Deadline: time.Minute, AutoRevert: true, State: Running, Created: t0}
	for i := range n {
		u := "web@" + string(rune('a'+i)) + ".service"
		r.Units[u] = Revs{From: "old", To: "new"}
		r.Items = append(r.Items, &Item{Unit: u, Phase: Pending})
	}
	return r
}

func phases(r *Rollout) string {
	var b strings.Builder
	for _, it := range r.Items {
		b.WriteByte(it.Phase[0])
	}
	return b.String()
}

var (
	ready    = Obs{Hash: "new", Active: "active"}
	starting = Obs{Hash: "new", Active: "active", Health: "starting"}
	oldRun   = Obs{Hash: "old", Active: "active"}
	failed   = Obs{Hash: "new", Active: "failed"}
	sick     = Obs{Hash: "new", Active: "active", Health: "unhealthy"}
)

func TestStep(t *testing.T) {
	type step struct {
		at     time.Duration
		obs    map[string]Obs
		phases string
		state  string
		revert bool
	}
	cases := []struct {
		name  string
		r     *Rollout
		steps []step
	}{
		{"one at a time, gated on min-healthy", newRollout(3, 1), []step{
			{0, nil, "rpp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": oldRun}, "rpp", Running, false},
			{2 * time.Second, map[string]Obs{"web@a.service": ready}, "rpp", Running, false},
			{3 * time.Second, map[string]Obs{"web@a.service": ready}, "rpp", Running, false},
			{4 * time.Second, map[string]Obs{"web@a.service": ready}, "drp", Running, false},
			{5 * time.Second, map[string]Obs{"web@b.service": ready}, "drp", Running, false},
			{7 * time.Second, map[string]Obs{"web@b.service": ready}, "ddr", Running, false},
			{8 * time.Second, map[string]Obs{"web@c.service": ready}, "ddr", Running, false},
			{10 * time.Second, map[string]Obs{"web@c.service": ready}, "ddd", Done, false},
		}},
		{"max-unavailable releases several", newRollout(5, 3), []step{
			{0, nil, "rrrpp", Running, false},
		}},
		{"health starting is not ready", newRollout(2, 1), []step{
			{0, nil, "rp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": starting}, "rp", Running, false},
			{5 * time.Second, map[string]Obs{"web@a.service": starting}, "rp", Running, false},
		}},
		{"a break resets min-healthy", newRollout(2, 1), []step{
			{0, nil, "rp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": ready}, "rp", Running, false},
			{2 * time.Second, map[string]Obs{"web@a.service": starting}, "rp", Running, false},
			{3 * time.Second, map[string]Obs{"web@a.service": ready}, "rp", Running, false},
			{4 * time.Second, map[string]Obs{"web@a.service": ready}, "rp", Running, false},
			{5 * time.Second, map[string]Obs{"web@a.service": ready}, "dr", Running, false},
		}},
		{"failed instance reverts", newRollout(3, 1), []step{
			{0, nil, "rpp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": failed}, "fpp", Reverted, true},
			{2 * time.Second, nil, "fpp", Reverted, false},
		}},
		{"unhealthy instance reverts", newRollout(3, 1), []step{
			{0, nil, "rpp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": sick}, "fpp", Reverted, true},
		}},
		{"the old revision failing is not the new one failing", newRollout(2, 1), []step{
			{0, nil, "rp", Running, false},
			{time.Second, map[string]Obs{"web@a.service": {Hash: "old", Active: "failed"}}, "rp", Running, false},
		}},
		{"deadline", newRollout(2, 1), []step{
			{0, nil, "rp", Running, false},
			{61 * time.Second, map[string]Obs{"web@a.service": oldRun}, "fp", Reverted, true},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, s := range c.steps {
				res := Step(c.r, s.obs, t0.Add(s.at))
				if got := phases(c.r); got != s.phases || c.r.State != s.state || res.Revert != s.revert {
					t.Fatalf("step %d at %s: phases %s state %s revert %v; want %s %s %v (reason %q)",
						i, s.at, got, c.r.State, res.Revert, s.phases, s.state, s.revert, c.r.Reason)
				}
			}
		})
	}
}

func TestStepNoAutoRevertStops(t *testing.T) {
	r := newRollout(2, 1)
	r.AutoRevert = false
	Step(r, nil, t0)
	res := Step(r, map[string]Obs{"web@a.service": failed}, t0.Add(time.Second))
	if r.State != Failed || res.Revert || !strings.Contains(r.Reason, "web@a.service: failed") {
		t.Fatalf("state %s revert %v reason %q", r.State, res.Revert, r.Reason)
	}
}

func TestPauseHoldsReleases(t *testing.T) {
	r := newRollout(2, 1)
	Step(r, nil, t0)
	r.State = Paused
	Step(r, map[string]Obs{"web@a.service": ready}, t0.Add(time.Second))
	Step(r, map[string]Obs{"web@a.service": ready}, t0.Add(4*time.Second))
	if got := phases(r); got != "dp" || r.State != Paused {
		t.Fatalf("paused: %s %s; want dp paused", got, r.State)
	}
	r.State = Running
	Step(r, nil, t0.Add(5*time.Second))
	if got := phases(r); got != "dr" {
		t.Fatalf("resumed: %s; want dr", got)
	}
}

func TestAbortReverts(t *testing.T) {
	r := newRollout(2, 1)
	Step(r, nil, t0)
	r.State = Aborting
	if res := Step(r, nil, t0.Add(time.Second)); !res.Revert || r.State != Reverted || r.Active() {
		t.Fatalf("abort: revert %v state %s", res.Revert, r.State)
	}
}

func TestHoldsGlobalPerMachine(t *testing.T) {
	r := &Rollout{Name: "g.service", State: Running, Units: map[string]Revs{"g.service": {From: "a", To: "b"}},
		Items: []*Item{{Unit: "g.service", Machine: "m1", Phase: Released}, {Unit: "g.service", Machine: "m2", Phase: Pending}}}
	if r.Holds("g.service", "m1") || !r.Holds("g.service", "m2") || r.Holds("g.service", "m3") || r.Holds("x.service", "m2") {
		t.Fatal("Holds: want only m2 held")
	}
	r.State = Reverted
	if r.Holds("g.service", "m2") {
		t.Fatal("a finished rollout holds nothing")
	}
}

func TestCheck(t *testing.T) {
	r := newRollout(1, 0)
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "max-unavailable 0") {
		t.Fatalf("max-unavailable 0: %v", err)
	}
	r = newRollout(0, 1)
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "no instances") {
		t.Fatalf("no items: %v", err)
	}
	r = newRollout(1, 1)
	r.Deadline = time.Second
	if err := r.Check(); err == nil {
		t.Fatal("deadline below min-healthy accepted")
	}
}

// FuzzStep: whatever the agents report, Step never releases more than
// MaxUnavailable at once, never moves an item backwards, and a finished
// rollout stays finished.
func FuzzStep(f *testing.F) {
	f.Add(uint8(5), uint8(2), []byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, n, maxU uint8, script []byte) {
		r := newRollout(int(n%12)+1, int(maxU%4)+1)
		order := map[string]int{Pending: 0, Released: 1, ItemDone: 2, ItemFail: 2}
		all := []Obs{ready, starting, oldRun, failed, sick, {}}
		now := t0
		for i, b := range script {
			obs := map[string]Obs{}
			for j, it := range r.Items {
				obs[it.Unit] = all[(int(b)+j*7+i)%len(all)]
			}
			before := map[string]string{}
			for _, it := range r.Items {
				before[it.Unit] = it.Phase
			}
			wasActive := r.Active()
			now = now.Add(time.Duration(b%8) * time.Second)
			Step(r, obs, now)
			if !wasActive && r.Active() {
				t.Fatal("a finished rollout came back")
			}
			released := 0
			for _, it := range r.Items {
				if order[it.Phase] < order[before[it.Unit]] {
					t.Fatalf("%s went from %s to %s", it.Unit, before[it.Unit], it.Phase)
				}
				if it.Phase == Released {
					released++
				}
			}
			if released > r.MaxUnavailable {
				t.Fatalf("%d released, max %d", released, r.MaxUnavailable)
			}
		}
	})
}

func TestStepRestart(t *testing.T) {
	r := newRollout(2, 1)
	r.Restart = true
	for u := range r.Units {
		r.Units[u] = Revs{From: "new", To: "new"}
	}
	steps := []struct {
		at     time.Duration
		a      Obs
		phases string
		stops  bool
	}{
		{0, ready, "rp", true},                                  // released: stop it
		{time.Second, ready, "rp", true},                        // still running the old run
		{2 * time.Second, Obs{Active: "inactive"}, "rp", false}, // seen stopped: start it
		{3 * time.Second, ready, "rp", false},
		{5 * time.Second, ready, "dr", false},
	}
	for i, s := range steps {
		Step(r, map[string]Obs{"web@a.service": s.a}, t0.Add(s.at))
		if got := phases(r); got != s.phases || r.Stops("web@a.service", "") != s.stops {
			t.Fatalf("step %d: %s stops %v; want %s %v", i, got, r.Stops("web@a.service", ""), s.phases, s.stops)
		}
	}
	// A restart that never comes back fails on its deadline, with
	// nothing to revert.
	r.Deadline = 10 * time.Second
	if res := Step(r, map[string]Obs{"web@b.service": failed}, t0.Add(20*time.Second)); res.Revert || r.State != Failed {
		t.Fatalf("restart past its deadline: revert %v state %s", res.Revert, r.State)
	}
}
