package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestPrometheusScrapesCluster: Debian's prometheus scrapes a three-node
// loopback cluster on each node's plaintext --metrics-listen address, once
// a second. Queries through its HTTP API see the units active, etcd's own
// server metrics from every member, and, after a SIGKILL of a node running
// one of them, the machines gauge drop to 2 and the failover counter rise
// while the units run again elsewhere. The API listener serves /metrics
// only to a client with the cluster's certificate.
func TestPrometheusScrapesCluster(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "prometheus")
	c := New(t, 3, 0)
	c.allocate()
	ports := FreePorts(t, len(c.Nodes)+1)
	var targets []string
	for i, n := range c.Nodes {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i])
		n.Extra = append(n.Extra, "--metrics-listen", addr)
		targets = append(targets, addr)
	}
	c.StartAll()
	prom := startPrometheus(t, c.Dir, ports[len(ports)-1], targets)

	startSleepers(t, c, "pm", 6)
	prom.wait(t, 30*time.Second, `sum(flotilla_units{state="active"})`, func(v float64) bool { return v == 6 })
	prom.wait(t, 30*time.Second, `count(etcd_server_has_leader == 1)`, func(v float64) bool { return v == 3 })
	prom.wait(t, 30*time.Second, `min(flotilla_machines{state="registered"})`, func(v float64) bool { return v == 3 })
	prom.wait(t, 30*time.Second, `sum(flotilla_engine_placements_total)`, func(v float64) bool { return v >= 6 })
	prom.wait(t, 30*time.Second, `sum(flotilla_unit_starts_total)`, func(v float64) bool { return v >= 6 })
	prom.wait(t, 30*time.Second, `count(flotilla_lease_renewal_seconds_count > 0)`, func(v float64) bool { return v == 3 })
	before, _ := prom.query(t, `sum(flotilla_engine_failovers_total)`)
	idleScrapesWriteNothing(t, c, prom)

	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	victim := nodeOf(c, ActiveOn(st, "pm-0.service")[0])
	c.Kill(victim)
	t.Logf("killed %s (failovers before: %v)", victim.Name, before)
	prom.wait(t, 60*time.Second, `max(flotilla_machines{state="registered"})`, func(v float64) bool { return v == 2 })
	prom.wait(t, 60*time.Second, `sum(flotilla_engine_failovers_total)`, func(v float64) bool { return v > before })
	prom.wait(t, 60*time.Second, `sum(flotilla_units{state="active"})`, func(v float64) bool { return v == 6 })

	checkAPIMetrics(t, c, c.firstRunning())
}

// idleScrapesWriteNothing: with the units settled, five seconds of scrapes
// of every node (15 scrapes) leave etcd's revision where it was.
func idleScrapesWriteNothing(t *testing.T, c *Cluster, prom *prometheus) {
	t.Helper()
	cli, err := c.EtcdClient(c.Nodes...)
	must(t, err)
	defer cli.Close()
	rev := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, "health")
		must(t, err)
		return resp.Header.Revision
	}
	time.Sleep(2 * time.Second) // the start's last state reports
	r0 := rev()
	time.Sleep(5 * time.Second)
	if r1 := rev(); r1 != r0 {
		t.Fatalf("etcd revision moved from %d to %d while the idle cluster was scraped", r0, r1)
	}
	// Scrapes did happen: every target answered within the last second.
	if n, _ := prom.query(t, `count(time() - timestamp(up == 1) < 2)`); n != 3 {
		t.Fatalf("%v of 3 targets scraped while checking for writes", n)
	}
}

// checkAPIMetrics: /metrics on the TCP API answers the cluster's client
// certificate and refuses a client without one, or with a foreign one.
func checkAPIMetrics(t *testing.T, c *Cluster, n *Node) {
	t.Helper()
	ca, err := os.ReadFile(c.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	get := func(certs ...tls.Certificate) (string, error) {
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		resp, err := cl.Get(c.Endpoint(n) + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s", resp.Status)
		}
		return string(b), nil
	}
	good, err := tls.LoadX509KeyPair(c.TLS.Client.CertFile, c.TLS.Client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	body, err := get(good)
	if err != nil || !strings.Contains(body, "flotilla_build_info{") || !strings.Contains(body, "etcd_server_has_leader") {
		t.Fatalf("API /metrics with the cluster's certificate: %v\n%.2000s", err, body)
	}
	if _, err := get(); err == nil {
		t.Fatal("API /metrics answered a client without a certificate")
	}
	foreign, err := tls.LoadX509KeyPair(c.TLS.NotTrusted.CertFile, c.TLS.NotTrusted.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(foreign); err == nil {
		t.Fatal("API /metrics answered a client with a foreign CA's certificate")
	}
}

// prometheus is a Debian prometheus server run by a test.
type prometheus struct{ url string }

// startPrometheus runs prometheus on 127.0.0.1:port scraping targets'
// /metrics every second, with its data in dir; it is killed at cleanup.
func startPrometheus(t *testing.T, dir string, port int, targets []string) *prometheus {
	t.Helper()
	quoted := make([]string, len(targets))
	for i, a := range targets {
		quoted[i] = strconv.Quote(a)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: fleetd
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	file := filepath.Join(dir, "prometheus.yml")
	must(t, os.WriteFile(file, []byte(cfg), 0o644))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	must(t, err)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command("prometheus", "--config.file="+file,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("---- prometheus log (last 4 KiB) ----\n%s", tail(b, 4096))
		}
	})
	p := &prometheus{url: "http://" + addr}
	err = testutil.Eventually(30*time.Second, func() error {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("prometheus not ready: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// query runs an instant query whose answer is one sample (an aggregate);
// ok is false when the answer is empty.
func (p *prometheus) query(t *testing.T, q string) (v float64, ok bool) {
	t.Helper()
	v, ok, err := p.tryQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func (p *prometheus) tryQuery(q string) (float64, bool, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, false, fmt.Errorf("query %s: %w", q, err)
	}
	if r.Status != "success" {
		return 0, false, fmt.Errorf("query %s: %s", q, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return 0, false, nil
	}
	if len(r.Data.Result) > 1 {
		return 0, false, fmt.Errorf("query %s: %d samples, want one", q, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, true, err
}

// wait polls the query until its sample satisfies ok.
func (p *prometheus) wait(t *testing.T, timeout time.Duration, q string, ok func(float64) bool) {
	t.Helper()
	err := testutil.EventuallyEvery(250*time.Millisecond, timeout, func() error {
		v, has, err := p.tryQuery(q)
		switch {
		case err != nil:
			return err
		case !has:
			return fmt.Errorf("%s: no sample", q)
		case !ok(v):
			return fmt.Errorf("%s = %v", q, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prometheus: %s ok", q)
}

// TestPrometheusSeesContainers: Debian's prometheus scrapes a node (in its
// own network namespace, so its bridge never touches the host's network)
// running two container units: one OOM-killed by its MemoryMax=16M, which
// shows as a failure and an OOM kill of that unit, and one sleeping, whose
// cgroup's memory and tasks are read at scrape time.
func TestPrometheusSeesContainers(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	testenv.NeedCommand(t, "prometheus")
	ns := NewNetns(t)
	host := ServeImages(t, ns.HostIP+":0", map[string]v1.Image{"test/busybox:1": BusyboxAll(t)})
	c := New(t, 1, 0)
	c.EnableTLS(ns.HostIP, ns.NsIP)
	node := c.Nodes[0]
	ports := FreePorts(t, 2)
	metricsAddr := fmt.Sprintf("%s:%d", ns.NsIP, ports[0])
	node.Netns, node.Host = ns.Name, ns.NsIP
	node.Extra = []string{"--bridge-subnet", "10.89.0.0/24", "--insecure-registry", host, "--metrics-listen", metricsAddr}
	c.StartAll()
	prom := startPrometheus(t, c.Dir, ports[1], []string{metricsAddr})
	ref := host + "/test/busybox:1"
	c.MustFleetctl("pull", ref)

	c.WriteUnit("oom.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'head -c 200m /dev/zero | tail'\n[Service]\nMemoryMax=16M\n", ref))
	c.WriteUnit("mem.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'exec sleep 1000'\n[Service]\nMemoryMax=64M\n", ref))
	c.MustFleetctl("start", "--no-block", "oom.service", "mem.service")
	waitState(t, c, "oom.service", func(active, reason string) bool { return active == "failed" && strings.Contains(reason, "oom") })
	prom.wait(t, 30*time.Second, `flotilla_unit_oom_kills_total{unit="oom.service"}`, func(v float64) bool { return v == 1 })
	prom.wait(t, 30*time.Second, `flotilla_unit_failures_total{unit="oom.service"}`, func(v float64) bool { return v == 1 })
	prom.wait(t, 30*time.Second, `flotilla_units{state="failed"}`, func(v float64) bool { return v == 1 })
	prom.wait(t, 30*time.Second, `flotilla_unit_memory_bytes{unit="mem.service"}`, func(v float64) bool { return v > 0 && v <= 64<<20 })
	prom.wait(t, 30*time.Second, `flotilla_unit_tasks{unit="mem.service"}`, func(v float64) bool { return v >= 1 })
	prom.wait(t, 30*time.Second, `flotilla_unit_starts_total{unit="mem.service"}`, func(v float64) bool { return v == 1 })
}
