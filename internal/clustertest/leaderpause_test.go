package clustertest

import (
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestLeaderPauseRestartsNothing (issue 18, point 3): SIGSTOP the inner
// fleetd of the node whose etcd leads raft for 3.5 s, then SIGCONT it.
// The two healthy nodes lose their renewals until the others elect a new
// leader; freeze-first fencing may stop their units for that while, but
// no unit of theirs may be restarted or moved: each must go on writing
// from the same process. The longest gap those units saw (frozen time)
// is logged. Before freeze-first fencing every healthy unit restarted.
func TestLeaderPauseRestartsNothing(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	r := RunLeaderPause(t, 9, 3500*time.Millisecond)
	t.Logf("raft leader %s paused: %s", r.Victim, r.Note)
	t.Logf("%d units on the healthy nodes; longest gap %s (%s, from %s after the pause began)", len(r.Healthy),
		r.Longest.Len().Round(time.Millisecond), r.Longest.Unit, (r.Longest.From - r.From).Round(time.Millisecond))
	t.Logf("the paused node's own %d units: %d restarted, longest gap %s", len(r.Paused), r.PausedRestarts, r.PausedLongest.Len().Round(time.Millisecond))
	if len(r.Healthy) == 0 {
		t.Fatal("no unit ran on the healthy nodes: the test proved nothing")
	}
	if len(r.Restarts) > 0 {
		t.Errorf("%d of %d units on the healthy nodes restarted during a %s pause of the raft leader:\n%s",
			len(r.Restarts), len(r.Healthy), r.Pause, strings.Join(r.Restarts, "\n"))
	}
	if len(r.Report.Lost) > 0 {
		t.Errorf("units of the healthy nodes no longer writing: %v", r.Report.Lost)
	}
}
