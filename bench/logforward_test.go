package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// lfLines, lfRate: the unit prints lfLines lines of about 100 bytes at
// lfRate lines a second, one write(2) per line (bash's printf).
const (
	lfLines = 50000
	lfRate  = 10000
)

// spewScript prints lfLines numbered lines at lfRate a second, keeping to
// the rate by $EPOCHREALTIME (bash 5), then "spew done" and the time taken.
var spewScript = fmt.Sprintf(`pad=$(printf %%080d 0)
start=${EPOCHREALTIME/./}
n=0
while [ $n -lt %[1]d ]; do
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		n=$((n+1))
		printf 'spew %%06d %%s\n' $n $pad
	done
	ahead=$((start + n*%[2]d - ${EPOCHREALTIME/./}))
	if [ $ahead -gt 1000 ]; then sleep 0.$(printf %%06d $ahead); fi
done
echo "spew done in $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms"
`, lfLines, 1000000/lfRate)

// BenchmarkLogForward10k: a one-member cluster runs a unit printing 10,000
// lines a second for 5 s (50,000 lines of ~100 bytes), once without
// forwarding and once forwarding to a receiver on loopback (a Go listener
// reading RFC 6587 octet-counted syslog frames over TCP, and counting
// those whose APP-NAME is the unit). Reports the lines delivered over
// those printed, and fleetd's CPU (its processes' utime+stime, as % of one
// core) from the start until every line arrived (or the unit ended, when
// not forwarding), in both runs. Target: all delivered; ≤ 15% of a core.
//
//	go test -run '^$' -bench 'LogForward10k' -benchtime 1x -timeout 10m ./bench
func BenchmarkLogForward10k(b *testing.B) {
	for range b.N {
		offCPU, _, _ := lfRun(b, false)
		onCPU, delivered, took := lfRun(b, true)
		b.ReportMetric(offCPU, "%cpu-fleetd-off")
		b.ReportMetric(onCPU, "%cpu-fleetd-forwarding")
		b.ReportMetric(float64(delivered)/lfLines, "delivered/printed")
		b.ReportMetric(took.Seconds(), "s-all-delivered")
	}
}

// lfRun runs the spewing unit once; it returns fleetd's CPU in % of a
// core, the lines delivered, and the time from start to the last line
// (forwarding) or to the unit's end.
func lfRun(b *testing.B, forward bool) (float64, int64, time.Duration) {
	c := clustertest.New(b, 1, 0)
	var got atomic.Int64
	if forward {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go lfReceive(l, &got)
		c.Nodes[0].Extra = append(c.Nodes[0].Extra, "--log-forward", "syslog+tcp://"+l.Addr().String())
	}
	c.StartAll()
	defer c.KillAll()
	script := filepath.Join(c.Dir, "spew.sh")
	if err := os.WriteFile(script, []byte(spewScript), 0o755); err != nil {
		b.Fatal(err)
	}
	c.WriteUnit("spew.service", "[Service]\nExecStart=/bin/bash "+script+"\n")
	c.MustFleetctl("submit", "spew.service")
	time.Sleep(2 * time.Second)
	pids := dnFleetdPIDs(b, c, c.Nodes[0])
	t0 := dnTicks(b, pids)
	start := time.Now()
	c.MustFleetctl("start", "--no-block", "spew.service")
	deadline := start.Add(60 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		if forward && got.Load() >= lfLines {
			break
		}
		if !forward && strings.Contains(c.MustFleetctl("journal", "--lines", "10", "spew.service"), "spew done") {
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	took := time.Since(start)
	cpu := float64(dnTicks(b, pids)-t0) / dnClockTicks / took.Seconds() * 100
	j := c.MustFleetctl("journal", "--lines", "10", "spew.service")
	done := "the unit did not finish"
	if i := strings.Index(j, "spew done"); i >= 0 {
		done, _, _ = strings.Cut(j[i:], "\n")
	}
	b.Logf("forwarding %v: %s; %d lines delivered; fleetd %.1f%% of a core over %s", forward, done, got.Load(), cpu, took.Round(time.Millisecond))
	return cpu, got.Load(), took
}

// lfReceive counts the octet-counted frames from spew.service on every
// connection to l.
func lfReceive(l net.Listener, got *atomic.Int64) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 64<<10)
			buf := make([]byte, 0, 16<<10)
			for {
				ls, err := r.ReadString(' ')
				if err != nil {
					return
				}
				n, err := strconv.Atoi(strings.TrimSuffix(ls, " "))
				if err != nil || n > 1<<20 {
					return
				}
				buf = buf[:n]
				if _, err := io.ReadFull(r, buf); err != nil {
					return
				}
				if m := string(buf); strings.Contains(m, " spew.service - stdout ") && !strings.Contains(m, "] spew done") {
					got.Add(1)
				}
			}
		}()
	}
}
