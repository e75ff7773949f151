package health

import "time"

// Tracker turns check results into verdicts, as Podman's
// updateHealthCheckLog does: the verdict starts as starting; a pass makes
// it healthy and clears the failing streak; a failure in the start period
// (measured from the start) counts for nothing; outside it, it adds to the
// streak, and Retries consecutive failures make it unhealthy.
type Tracker struct {
	retries     int
	startPeriod time.Duration
	started     time.Time
	streak      int
	verdict     string
}

// NewTracker begins tracking a unit (re)started at start.
func NewTracker(c Config, start time.Time) *Tracker {
	r := c.Retries
	if r < 1 {
		r = DefaultRetries
	}
	return &Tracker{retries: r, startPeriod: c.StartPeriod, started: start, verdict: Starting}
}

// Verdict is the current verdict.
func (t *Tracker) Verdict() string { return t.verdict }

// Streak is the number of consecutive counted failures.
func (t *Tracker) Streak() int { return t.streak }

// Record adds the result of a check that ended at at. It returns the
// verdict and whether it changed.
func (t *Tracker) Record(pass bool, at time.Time) (verdict string, changed bool) {
	old := t.verdict
	switch {
	case pass:
		t.streak = 0
		t.verdict = Healthy
	case at.Sub(t.started) < t.startPeriod:
		// Podman: a failure in the start period neither counts nor
		// changes the verdict.
	default:
		t.streak++
		if t.streak >= t.retries {
			t.verdict = Unhealthy
		}
	}
	return t.verdict, t.verdict != old
}
