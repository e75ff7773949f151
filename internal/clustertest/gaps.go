package clustertest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// Gaps measures, for each of a set of units, the longest stretch during
// which the cluster reported it active on no machine, polling the API's
// unit states (one read each, at one etcd revision) every Interval.
type Gaps struct {
	Interval time.Duration

	mu      sync.Mutex
	since   map[string]time.Time // unit -> when it was first seen down, in the current gap
	longest map[string]time.Duration
	polls   int
	stop    context.CancelFunc
	done    chan struct{}
}

// WatchGaps starts polling c for units' gaps every interval.
func WatchGaps(c *Cluster, units []string, interval time.Duration) *Gaps {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gaps{Interval: interval, since: map[string]time.Time{}, longest: map[string]time.Duration{}, stop: cancel, done: make(chan struct{})}
	for _, u := range units {
		g.longest[u] = 0
	}
	cl := c.Client()
	go func() {
		defer close(g.done)
		for ctx.Err() == nil {
			g.poll(ctx, cl)
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return g
}

func (g *Gaps) poll(ctx context.Context, cl *client.Client) {
	sts, err := cl.UnitStates(ctx, client.StateFilter{})
	if err != nil {
		return // a failed read proves nothing either way
	}
	now := time.Now()
	up := map[string]bool{}
	for _, s := range sts {
		if s.SystemdActiveState == "active" && s.MachineID != "" {
			up[s.Name] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.polls++
	for u := range g.longest {
		start, down := g.since[u]
		switch {
		case !up[u] && !down:
			g.since[u] = now
		case !up[u]:
			g.longest[u] = max(g.longest[u], now.Sub(start))
		case down:
			g.longest[u] = max(g.longest[u], now.Sub(start))
			delete(g.since, u)
		}
	}
}

// Stop ends the polling and returns each unit's longest gap (a unit still
// down counts until now) and the number of polls made.
func (g *Gaps) Stop() (map[string]time.Duration, int) {
	g.stop()
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	out := map[string]time.Duration{}
	for u, d := range g.longest {
		if start, down := g.since[u]; down {
			d = max(d, now.Sub(start))
		}
		out[u] = d
	}
	return out, g.polls
}

// Longest returns the unit with the longest gap, and the gap.
func Longest(gaps map[string]time.Duration) (string, time.Duration) {
	var name string
	var longest time.Duration
	for u, d := range gaps {
		if name == "" || d > longest || (d == longest && u < name) {
			name, longest = u, d
		}
	}
	return name, longest
}

// Drained waits until every one of units is active on exactly one machine,
// and none on any of away.
func Drained(c *Cluster, units []string, away []string, timeout time.Duration) error {
	return testutil.Eventually(timeout, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range units {
			on := ActiveOn(st, u)
			if len(on) != 1 {
				return fmt.Errorf("%s active on %v", u, on)
			}
			for _, m := range away {
				if on[0] == m {
					return fmt.Errorf("%s still active on %s", u, m)
				}
			}
		}
		return nil
	})
}

// FillOne starts units on target alone: every other node is cordoned while
// they are submitted (which also proves a cordon holds against new
// submits), then uncordoned.
func FillOne(t testing.TB, c *Cluster, target *Node, units map[string]string) []string {
	t.Helper()
	var others []string
	for _, n := range c.Nodes {
		if n != target && n.Running() {
			others = append(others, n.MachineID())
			c.MustFleetctl("cordon", n.MachineID())
		}
	}
	var names []string
	for name, body := range units {
		c.WriteUnit(name, body)
		names = append(names, name)
	}
	sort.Strings(names)
	c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
	if err := Drained(c, names, others, 60*time.Second); err != nil {
		t.Fatalf("units submitted while the other nodes were cordoned: %v", err)
	}
	for _, id := range others {
		c.MustFleetctl("uncordon", id)
	}
	return names
}
