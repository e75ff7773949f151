package clustertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestRsyslogReceivesUnitLines: a one-node cluster forwards to Debian's
// rsyslogd over UDP, TCP and TLS (rsyslog-gnutls, verified against the
// cluster's CA), and as JSON lines to a Go listener. rsyslog's file gets the unit's lines, stdout as info and
// stderr as err, with the unit as APP-NAME, the machine as HOSTNAME and
// both in the structured data, and fleetd's own lines. Then rsyslogd is
// killed: the unit keeps running (same pid, its new lines in fleetctl
// journal) and the dropped-line counter in /metrics rises.
func TestRsyslogReceivesUnitLines(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "rsyslogd")
	c := New(t, 1, 0)
	ports := FreePorts(t, 4)
	udp, tcp, tlsPort, metricsPort := ports[0], ports[1], ports[2], ports[3]
	out := filepath.Join(t.TempDir(), "received.log")
	rs := startRsyslog(t, c, udp, tcp, tlsPort, out)

	tcpDest := fmt.Sprintf("syslog+tcp://127.0.0.1:%d", tcp)
	jl, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer jl.Close()
	jsonLines := make(chan string, 1000)
	go acceptJSONLines(jl, jsonLines)
	n := c.Nodes[0]
	n.Extra = append(n.Extra,
		"--log-forward", "json+tcp://"+jl.Addr().String(),
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"--log-forward", fmt.Sprintf("syslog+udp://127.0.0.1:%d", udp),
		"--log-forward", tcpDest+"?buffer=4k",
		"--log-forward", fmt.Sprintf("syslog+tls://127.0.0.1:%d?ca=%s", tlsPort, c.TLS.CA))
	c.StartAll()

	c.WriteUnit("ticker.service", "[Service]\nExecStart=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo \"tick-lf-$i\"; echo \"warn $i\" >&2; sleep 0.02; done'\n")
	c.MustFleetctl("start", "ticker.service")
	if err := WaitActive(c, []string{"ticker.service"}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sd := `[flotilla@32473 unit="ticker.service" machine="n1"]`
	for _, input := range []string{"imudp", "imptcp", "imtcp"} {
		for _, want := range []string{
			input + " info n1 ticker.service stdout " + sd + " tick-lf-",
			input + " err n1 ticker.service stderr " + sd + " warn ",
			input + " info n1 fleetd log ",
		} {
			testutil.WaitFor(t, "rsyslog's "+want, 20*time.Second, func() bool { return strings.Contains(fileText(out), want) })
		}
	}
	wantJSON := map[string]bool{"stdout": true, "stderr": true}
	timeout := time.After(20 * time.Second)
	for len(wantJSON) > 0 {
		select {
		case l := <-jsonLines:
			var r struct{ Time, Machine, Unit, Stream, Message string }
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("JSON line %q: %v", l, err)
			}
			if r.Unit == "ticker.service" && r.Machine == "n1" && r.Time != "" && (r.Stream == "stdout" && strings.HasPrefix(r.Message, "tick-lf-") || r.Stream == "stderr" && strings.HasPrefix(r.Message, "warn ")) {
				delete(wantJSON, r.Stream)
			}
		case <-timeout:
			t.Fatalf("no JSON line of ticker.service on %v", wantJSON)
		}
	}
	pid := unitPID(t, c, "ticker.service")

	rs.Process.Signal(syscall.SIGKILL)
	rs.Wait()
	got := fileText(out)
	last := lastTick(t, got, "lf")
	t.Logf("rsyslogd killed after tick %d", last)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	dropped := func() float64 { return metricValue(t, metrics, "flotilla_log_forward_dropped_lines_total", tcpDest) }
	before := dropped()
	testutil.WaitFor(t, "dropped lines counted for "+tcpDest, 30*time.Second, func() bool { return dropped() > before+100 })
	if up := metricValue(t, metrics, "flotilla_log_forward_connected", tcpDest); up != 0 {
		t.Errorf("%s connected = %v with rsyslogd dead", tcpDest, up)
	}
	if p := unitPID(t, c, "ticker.service"); p != pid {
		t.Fatalf("ticker.service's pid %d → %d: the unit was restarted", pid, p)
	}
	j := c.MustFleetctl("journal", "--lines", "5", "ticker.service")
	if now := lastTick(t, j, "lf"); now <= last+50 {
		t.Fatalf("journal's last tick %d, rsyslog's %d: the unit stalled?\n%s", now, last, j)
	}
}

func startRsyslog(t *testing.T, c *Cluster, udp, tcp, tlsPort int, out string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`global(workDirectory=%[1]q
  defaultNetstreamDriverCAFile=%[6]q
  defaultNetstreamDriverCertFile=%[7]q
  defaultNetstreamDriverKeyFile=%[8]q)
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="%[2]d")
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="%[3]d")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="%[4]d")
template(name="t" type="string" string="%%inputname%% %%syslogseverity-text%% %%hostname%% %%app-name%% %%msgid%% %%structured-data%% %%msg%%\n")
action(type="omfile" file=%[5]q template="t")
`, dir, udp, tcp, tlsPort, out, c.TLS.CA, c.TLS.Node.CertFile, c.TLS.Node.KeyFile)
	path := filepath.Join(dir, "rsyslog.conf")
	must(t, os.WriteFile(path, []byte(conf), 0o644))
	cmd := exec.Command("rsyslogd", "-n", "-f", path, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// acceptJSONLines sends every line received on l to lines, dropping what
// the test does not read in time.
func acceptJSONLines(l net.Listener, lines chan<- string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				default:
				}
			}
		}()
	}
}

func fileText(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// metricValue reads one sample of name whose labels contain label from a
// plaintext /metrics.
func metricValue(t *testing.T, url, name, label string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+"{") && strings.Contains(l, label) {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			must(t, err)
			return v
		}
	}
	t.Fatalf("%s has no %s{...%s...}:\n%s", url, name, label, b)
	return 0
}
