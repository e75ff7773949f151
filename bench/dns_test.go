package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/dns"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// dnsNames is how many cluster names both servers answer.
const dnsNames = 100

// BenchmarkDNS: queries per second and p99 latency for cluster names,
// fleetd's DNS server (internal/dns, the code fleetd runs, in this
// process, with 100 endpoints on 3 machines) beside Debian's dnsmasq
// answering the same 100 names from a hosts file, both on loopback, the
// same client for both: Debian's dnsperf, three interleaved rounds of
// 5 s each (medians), 100 queries outstanding, the 100 names round robin. Target: fleetd ≥ dnsmasq.
//
//	apt-get install dnsperf dnsmasq-base
//	go test -run '^$' -bench 'DNS$' -benchtime 1x ./bench
func BenchmarkDNS(b *testing.B) {
	testenv.NeedCommand(b, "dnsperf")
	testenv.NeedCommand(b, "dnsmasq")
	dir := b.TempDir()
	var queries, hosts strings.Builder
	eps := map[string]*registry.Endpoint{}
	for i := range dnsNames {
		m := fmt.Sprintf("m%d", i%3)
		addr := fmt.Sprintf("192.0.2.%d", 1+i%3)
		unit := fmt.Sprintf("svc%03d.service", i)
		eps[registry.EndpointKey(m, unit)] = &registry.Endpoint{Unit: unit, Machine: m, MachineAddr: addr}
		fmt.Fprintf(&queries, "svc%03d.flotilla A\n", i)
		fmt.Fprintf(&hosts, "%s svc%03d.flotilla\n", addr, i)
	}
	qfile, hfile := filepath.Join(dir, "queries"), filepath.Join(dir, "hosts")
	if err := os.WriteFile(qfile, []byte(queries.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(hfile, []byte(hosts.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ports := clustertest.FreePorts(b, 2)

	srv := dns.New(dns.Config{Listen: []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, Upstreams: []string{}}, dns.Options{})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.SetView(dns.NewView(dns.Options{}, eps))

	// dnsmasq as a plain authoritative-from-hosts server: no upstreams, no
	// /etc/hosts, no config file, TTL 1 s as ours, in the foreground.
	dm := exec.Command("dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--addn-hosts="+hfile,
		"--listen-address=127.0.0.1", "--bind-interfaces", fmt.Sprintf("--port=%d", ports[1]), "--user=root", "--local-ttl=1")
	dm.Stderr = os.Stderr
	if err := dm.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = dm.Process.Kill(); _ = dm.Wait() }()
	time.Sleep(300 * time.Millisecond)

	type server struct {
		name string
		port int
		qps  []float64
		p99  []time.Duration
	}
	servers := []*server{{name: "fleetd", port: ports[0]}, {name: "dnsmasq", port: ports[1]}}
	for range b.N {
		// Interleaved rounds, the order alternating, medians reported: the
		// machine is shared, and load that comes and goes hits both alike.
		for round := range dnsRounds {
			for i := range servers {
				s := servers[(i+round)%len(servers)]
				qps, p99, lost := dnsperf(b, qfile, s.port, dnsRound)
				s.qps, s.p99 = append(s.qps, qps), append(s.p99, p99)
				b.Logf("round %d: %s: %.0f queries/s, p99 %s, %d lost", round, s.name, qps, p99, lost)
			}
		}
	}
	for _, s := range servers {
		slices.Sort(s.qps)
		slices.Sort(s.p99)
		qps, p99 := s.qps[len(s.qps)/2], s.p99[len(s.p99)/2]
		b.ReportMetric(qps, s.name+"-qps")
		b.ReportMetric(p99.Seconds()*1000, s.name+"-p99-ms")
		b.Logf("%s: median %.0f queries/s, p99 %s (dnsperf, %d rounds of %s, 100 outstanding, %d names)", s.name, qps, p99, dnsRounds, dnsRound, dnsNames)
	}
}

const (
	dnsRounds = 3
	dnsRound  = 5 * time.Second
)

var (
	dnsperfQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	dnsperfLost = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
)

// dnsperf runs dnsperf against 127.0.0.1:port for d and returns its
// queries per second, the p99 of the latencies it reports per query
// (-v), and the queries lost.
func dnsperf(b *testing.B, qfile string, port int, d time.Duration) (float64, time.Duration, int) {
	b.Helper()
	// The per-query lines go to a file, read after the run: parsing them
	// meanwhile would take CPU from the server measured.
	vf, err := os.CreateTemp(b.TempDir(), "dnsperf")
	if err != nil {
		b.Fatal(err)
	}
	defer vf.Close()
	cmd := exec.Command("dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", qfile,
		"-l", strconv.Itoa(int(d.Seconds())), "-q", "100", "-v")
	cmd.Stdout, cmd.Stderr = vf, os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("dnsperf: %v", err)
	}
	if _, err := vf.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	var lat []float64
	var rest strings.Builder
	sc := bufio.NewScanner(vf)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && f[1] == "NOERROR" {
				lat = append(lat, v)
			}
			continue
		}
		rest.WriteString(line + "\n")
	}
	m := dnsperfQPS.FindStringSubmatch(rest.String())
	if m == nil || len(lat) == 0 {
		b.Fatalf("dnsperf printed no figures:\n%s", rest.String())
	}
	qps, _ := strconv.ParseFloat(m[1], 64)
	lost := 0
	if l := dnsperfLost.FindStringSubmatch(rest.String()); l != nil {
		lost, _ = strconv.Atoi(l[1])
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	return qps, time.Duration(p99 * float64(time.Second)), lost
}

// BenchmarkIdleEndpoints: 3 nodes, 1,000 plain units running, hence
// 1,000 endpoints in etcd; then the etcd revision over one idle minute
// (every write bumps it, lease keepalives do not) and the CPU of the
// busiest node's fleetd processes over that minute. Targets: 0 writes,
// CPU ≤ BenchmarkIdleWrites' + 0.2 points.
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench 'IdleEndpoints' -benchtime 1x -timeout 30m ./bench
func BenchmarkIdleEndpoints(b *testing.B) {
	testenv.NeedSlow(b)
	const units, idle = 1000, 60 * time.Second
	for range b.N {
		c := clStart(b)
		clStartUnits(b, c, "ep", units)
		cli := clEtcd(b, c, c.Nodes[0])
		reg := registry.New(cli)
		if err := testutil.Eventually(2*time.Minute, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			eps, _, err := reg.Endpoints(ctx)
			if err != nil || len(eps) != units {
				return fmt.Errorf("%d endpoints (%v), want %d", len(eps), err, units)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		rev0 := clRevision(b, cli)
		cpu0 := fleetdCPU(c)
		time.Sleep(idle)
		cpu1 := fleetdCPU(c)
		rev1 := clRevision(b, cli)
		writes := rev1 - rev0
		busiest := 0.0
		for i, n := range c.Nodes {
			pct := (cpu1[i] - cpu0[i]).Seconds() / idle.Seconds() * 100
			b.Logf("%s: fleetd CPU %.2f%% over %s idle", n.Name, pct, idle)
			busiest = max(busiest, pct)
		}
		b.ReportMetric(float64(writes)/idle.Minutes(), "writes/min")
		b.ReportMetric(busiest, "busiest-cpu-%")
		b.Logf("%d endpoints: etcd revision %d → %d over %s idle: %d writes (target 0); busiest node's fleetd %.2f%% CPU", units, rev0, rev1, idle, writes, busiest)
		if writes > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := cli.Get(ctx, "/flotilla/", clientv3.WithPrefix(), clientv3.WithMinModRev(rev0+1), clientv3.WithKeysOnly())
			cancel()
			if err == nil {
				for _, kv := range resp.Kvs {
					fmt.Fprintf(os.Stderr, "idle write: rev %d %s\n", kv.ModRevision, kv.Key)
				}
			}
		}
	}
}

// fleetdCPU is the user+system CPU time of each node's fleetd processes
// (the lifeline's outer one and every descendant but unit processes,
// which here only sleep).
func fleetdCPU(c *clustertest.Cluster) []time.Duration {
	var out []time.Duration
	for _, n := range c.Nodes {
		var total time.Duration
		for _, pid := range append([]int{n.PID()}, clustertest.Descendants(n.PID())...) {
			total += procCPU(pid)
		}
		out = append(out, total)
	}
	return out
}

// procCPU reads utime+stime of pid (clock ticks, 100 per second).
func procCPU(pid int) time.Duration {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}
