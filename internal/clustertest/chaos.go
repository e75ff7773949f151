package clustertest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/ttl"
)

// This file is the fault injector's ground truth: the writer every unit
// runs, and the checker that reads what the writers wrote. The checker is
// a pure function of the lines, so that it is tested on made-up logs
// (chaos_test.go) as well as used on real ones.

// Mono is CLOCK_MONOTONIC, the clock the writers stamp their lines with;
// the injector marks its rounds with it too, so that a step of the wall
// clock cannot bend a gap.
func Mono() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clustertest: clock_gettime(CLOCK_MONOTONIC): %v", err))
	}
	return time.Duration(ts.Nano())
}

var (
	writerOnce sync.Once
	writerBin  string
	writerErr  error
)

// BuildWriter builds ./internal/clustertest/chaoswriter once per process
// into a directory every unit may read.
func BuildWriter() (string, error) {
	writerOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			writerErr = err
			return
		}
		dir, err := os.MkdirTemp("", "flotilla-chaoswriter-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			writerErr = err
			return
		}
		writerBin = filepath.Join(dir, "chaoswriter")
		cmd := exec.Command("go", "build", "-o", writerBin, "./internal/clustertest/chaoswriter")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			writerErr = fmt.Errorf("go build chaoswriter: %v\n%s", err, out)
		}
	})
	return writerBin, writerErr
}

// WriterUnit is a unit file that runs the writer bin, appending a line
// naming the unit (%n), its machine (%m) and its copy to log every 100 ms.
func WriterUnit(bin, log string) string {
	return fmt.Sprintf("[Service]\nExecStart=%s -log %s -unit %%n -machine %%m\n", bin, log)
}

// FenceMargin is the longest time two copies of a unit may be seen
// writing at once before the injector calls it a fencing failure: TTL −
// Watchdog, TTL/10 (500 ms at the default TTL of 5 s). It is the slack
// fencing keeps between the last moment a copy may still run on a node
// that lost its lease (the lifeline's watchdog kills by 9/10 TTL after the
// last answered renewal; the agent itself freezes at 3/5 and kills at 4/5)
// and the first moment that lease can expire and the engine start the unit
// elsewhere (a full TTL after that renewal was sent). Any overlap above
// zero is already a kill later than its bound; one longer than the margin
// means a kill came more than twice the margin late, which scheduling
// delay on a loaded host does not explain.
func FenceMargin(tm ttl.Timing) time.Duration { return tm.TTL - tm.Watchdog() }

// Write is one line of the writers' log.
type Write struct {
	Unit, Machine string
	Copy          string        // pid namespace, pid and a nonce: one process
	At            time.Duration // CLOCK_MONOTONIC
}

// ParseWrites reads a writers' log. A last line without its newline is a
// write in progress and is skipped; any other line that is not four
// fields with a number third is an error naming the line, since writers
// whose lines mix would hide what the checker looks for.
func ParseWrites(r io.Reader) ([]Write, error) {
	br := bufio.NewReader(r)
	var out []Write
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return out, nil // "" or a partial last line
		}
		if err != nil {
			return out, err
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			return out, fmt.Errorf("writers' log line %d: %q: want <unit> <machine> <monotonic ns> <copy>", n, strings.TrimSpace(line))
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return out, fmt.Errorf("writers' log line %d: %q: time: %v", n, strings.TrimSpace(line), err)
		}
		out = append(out, Write{Unit: f[0], Machine: f[1], Copy: f[3], At: time.Duration(ns)})
	}
}

// ReadWrites parses the writers' log at path.
func ReadWrites(path string) ([]Write, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseWrites(f)
}

// CheckOptions bound what Check looks at.
type CheckOptions struct {
	Units []string // every unit that must be writing; loss is judged on these
	// From and End (CLOCK_MONOTONIC) are the span gaps are measured in:
	// every unit writes at From, End is when the log was read.
	From, End time.Duration
	Near      time.Duration // copies on two machines this close are a duplicate (300 ms)
	Tail      time.Duration // a unit with no write in the last Tail before End is lost
}

// Copy is one process of a unit, as its lines show it.
type Copy struct {
	Unit, Machine, ID string
	First, Last       time.Duration
	Writes            int
}

// Duplicate is two copies of a unit, on different machines, that wrote
// within Near of each other.
type Duplicate struct {
	Unit string
	A, B Copy // A started first
	// Overlap is how long both wrote: min of the last writes minus max of
	// the first. Negative is the gap between them, shorter than Near.
	Overlap time.Duration
}

// At is when the later copy started writing.
func (d Duplicate) At() time.Duration { return d.B.First }

// Gap is a time a unit wrote nothing, anywhere.
type Gap struct {
	Unit     string
	From, To time.Duration
}

// Len is the gap's length.
func (g Gap) Len() time.Duration { return g.To - g.From }

// Report is what Check found.
type Report struct {
	Copies     map[string][]Copy // by unit, in order of first write
	Duplicates []Duplicate       // by the later copy's start
	Lost       []string          // units with no write in the last Tail
	Longest    map[string]Gap    // each unit's longest gap in [From, End]
	Gaps       []Gap             // every gap of more than Near in [From, End], by start
	Writes     int
	// Closest is the pair of copies on different machines that came
	// closest (the largest Overlap), duplicate or not: a unit's tightest
	// hand-over. Its Unit is "" when no unit ran on two machines.
	Closest Duplicate
}

// Check reads writes: each unit's copies, copies on two machines that
// wrote within o.Near of each other, units lost by o.End, and the gaps.
func Check(writes []Write, o CheckOptions) Report {
	byUnit := map[string][]Write{}
	for _, w := range writes {
		byUnit[w.Unit] = append(byUnit[w.Unit], w)
	}
	r := Report{Copies: map[string][]Copy{}, Longest: map[string]Gap{}, Writes: len(writes)}
	for u, ws := range byUnit {
		slices.SortStableFunc(ws, func(a, b Write) int { return cmpDur(a.At, b.At) })
		r.Copies[u] = copiesOf(u, ws)
		r.Duplicates = append(r.Duplicates, duplicates(u, r.Copies[u], o.Near)...)
		if d, ok := closest(u, r.Copies[u]); ok && (r.Closest.Unit == "" || d.Overlap > r.Closest.Overlap) {
			r.Closest = d
		}
	}
	for _, u := range o.Units {
		ws := byUnit[u]
		if len(ws) == 0 || ws[len(ws)-1].At <= o.End-o.Tail {
			r.Lost = append(r.Lost, u)
		}
		longest := Gap{Unit: u, From: o.From, To: o.From}
		prev := o.From
		for _, at := range append(timesIn(ws, o.From, o.End), o.End) {
			g := Gap{Unit: u, From: prev, To: at}
			if g.Len() > longest.Len() {
				longest = g
			}
			if g.Len() > o.Near {
				r.Gaps = append(r.Gaps, g)
			}
			prev = at
		}
		r.Longest[u] = longest
	}
	slices.SortFunc(r.Duplicates, func(a, b Duplicate) int { return cmpDur(a.At(), b.At()) })
	slices.SortFunc(r.Gaps, func(a, b Gap) int { return cmpDur(a.From, b.From) })
	slices.Sort(r.Lost)
	return r
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// copiesOf groups one unit's writes, in time order, by copy.
func copiesOf(unit string, ws []Write) []Copy {
	idx := map[string]int{}
	var out []Copy
	for _, w := range ws {
		key := w.Machine + " " + w.Copy
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, Copy{Unit: unit, Machine: w.Machine, ID: w.Copy, First: w.At})
		}
		out[i].Last = w.At
		out[i].Writes++
	}
	return out
}

// duplicates pairs copies on different machines that wrote within near.
func duplicates(unit string, cs []Copy, near time.Duration) []Duplicate {
	var out []Duplicate
	for i, a := range cs {
		for _, b := range cs[i+1:] {
			if a.Machine == b.Machine {
				continue // a restart in place runs one copy after the other
			}
			overlap := min(a.Last, b.Last) - max(a.First, b.First)
			if overlap > -near {
				out = append(out, Duplicate{Unit: unit, A: a, B: b, Overlap: overlap})
			}
		}
	}
	return out
}

// closest is the pair of copies on different machines with the largest
// overlap.
func closest(unit string, cs []Copy) (Duplicate, bool) {
	var best Duplicate
	found := false
	for i, a := range cs {
		for _, b := range cs[i+1:] {
			if a.Machine == b.Machine {
				continue
			}
			if d := (Duplicate{Unit: unit, A: a, B: b, Overlap: min(a.Last, b.Last) - max(a.First, b.First)}); !found || d.Overlap > best.Overlap {
				best, found = d, true
			}
		}
	}
	return best, found
}

// timesIn is the times of ws (sorted) within [from, to].
func timesIn(ws []Write, from, to time.Duration) []time.Duration {
	var out []time.Duration
	for _, w := range ws {
		if w.At >= from && w.At <= to {
			out = append(out, w.At)
		}
	}
	return out
}

// Within is what happened from from to to: the duplicates whose later
// copy started then, and the longest gap that ended then (a unit's last
// write before a fault comes up to a writer's period before it).
func (r Report) Within(from, to time.Duration) (dups []Duplicate, longest Gap) {
	for _, d := range r.Duplicates {
		if d.At() >= from && d.At() < to {
			dups = append(dups, d)
		}
	}
	for _, g := range r.Gaps {
		if g.To > from && g.To <= to && g.Len() > longest.Len() {
			longest = g
		}
	}
	return dups, longest
}

// Worst is the longest overlap of any duplicate (0 with none; negative
// when the closest two copies only came within Near) and the longest gap
// of any unit.
func (r Report) Worst() (overlap time.Duration, gap Gap) {
	for i, d := range r.Duplicates {
		if i == 0 || d.Overlap > overlap {
			overlap = d.Overlap
		}
	}
	for _, g := range r.Longest {
		if g.Len() > gap.Len() || (g.Len() == gap.Len() && g.Unit < gap.Unit) {
			gap = g
		}
	}
	return overlap, gap
}
