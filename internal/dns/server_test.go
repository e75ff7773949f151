package dns_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/dns"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// upstream is a resolver the server forwards to: it answers every A
// question with 198.51.100.7, after delay.
func upstream(t *testing.T, delay time.Duration) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		time.Sleep(delay)
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, 7)}}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func startServer(t *testing.T, cfg dns.Config) *dns.Server {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.Logf = t.Logf
	s := dns.New(cfg, dns.Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func query(t *testing.T, net, addr, name string, qtype uint16) (*mdns.Msg, error) {
	t.Helper()
	c := &mdns.Client{Net: net, Timeout: 3 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func addrsOf(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch a := rr.(type) {
		case *mdns.A:
			out = append(out, a.A.String())
		case *mdns.SRV:
			out = append(out, fmt.Sprintf("%s:%d", a.Target, a.Port))
		}
	}
	return out
}

// TestServer: a real server over UDP and TCP answers the cluster's names
// from its view, forwards the rest, and caps forwards in flight without
// slowing local answers.
func TestServer(t *testing.T) {
	slow := upstream(t, 300*time.Millisecond)
	s := startServer(t, dns.Config{Upstreams: []string{slow}, MaxForwards: 4})
	addr := s.Addrs()[0]
	s.SetView(dns.NewView(dns.Options{}, map[string]*registry.Endpoint{
		"m1/web@1.service": {Unit: "web@1.service", Machine: "m1", MachineAddr: "192.0.2.1", Ports: []registry.Port{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
	}))
	for _, n := range []string{"udp", "tcp"} {
		r, err := query(t, n, addr, "web.flotilla", mdns.TypeA)
		if err != nil || r.Rcode != mdns.RcodeSuccess || !r.Authoritative || fmt.Sprint(addrsOf(r)) != "[192.0.2.1]" {
			t.Fatalf("%s web.flotilla: %v %v", n, r, err)
		}
		r, err = query(t, n, addr, "_80._tcp.web.flotilla", mdns.TypeSRV)
		if err != nil || fmt.Sprint(addrsOf(r)) != "[1.web.flotilla.:8080]" || len(r.Extra) != 1 {
			t.Fatalf("%s SRV: %v %v", n, r, err)
		}
		r, err = query(t, n, addr, "gone.flotilla", mdns.TypeA)
		if err != nil || r.Rcode != mdns.RcodeNameError {
			t.Fatalf("%s gone.flotilla: %v %v", n, r, err)
		}
		r, err = query(t, n, addr, "example.com", mdns.TypeA)
		if err != nil || fmt.Sprint(addrsOf(r)) != "[198.51.100.7]" {
			t.Fatalf("%s forwarded example.com: %v %v", n, r, err)
		}
	}

	// Twenty slow forwards at once: four go upstream, the others get
	// SERVFAIL at once; a local name is answered quickly meanwhile.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range 20 {
		wg.Go(func() {
			r, err := query(t, "udp", addr, fmt.Sprintf("n%d.example.com", i), mdns.TypeA)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			codes[r.Rcode]++
		})
	}
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if r, err := query(t, "udp", addr, "web.flotilla", mdns.TypeA); err != nil || r.Rcode != mdns.RcodeSuccess {
		t.Fatalf("local name during a forward flood: %v %v", r, err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("local name took %s during a forward flood", d)
	}
	wg.Wait()
	if codes[mdns.RcodeSuccess] < 1 || codes[mdns.RcodeSuccess] > 4 || codes[mdns.RcodeServerFailure] < 16 {
		t.Errorf("forward flood answers by rcode %v: want at most 4 forwarded, the rest SERVFAIL", codes)
	}
}

// TestFollow: the view follows endpoints written to a real etcd, without
// reading etcd per query: a new endpoint answers, a deleted one is gone,
// and an endpoint turning unhealthy leaves at once.
func TestFollow(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	s := startServer(t, dns.Config{Upstreams: []string{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { dns.Follow(ctx, reg, dns.Options{}, s.SetView, time.Second, t.Logf); close(done) }()
	defer func() { cancel(); <-done }()
	lease, err := reg.Grant(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	put := func(health string) {
		ep := &registry.Endpoint{Unit: "db.service", Machine: "m1", MachineAddr: "192.0.2.9", Health: health}
		if err := reg.WriteEndpoints(ctx, "m1", lease, []registry.EndpointWrite{{Unit: "db.service", Endpoint: ep}}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(rcode int) {
		t.Helper()
		if err := testutil.Eventually(2*time.Second, func() error {
			r, err := query(t, "udp", s.Addrs()[0], "db.flotilla", mdns.TypeA)
			if err != nil || r.Rcode != rcode {
				return fmt.Errorf("db.flotilla: %v %v, want %s", r, err, mdns.RcodeToString[rcode])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	expect(mdns.RcodeNameError)
	put("")
	expect(mdns.RcodeSuccess)
	put("unhealthy")
	expect(mdns.RcodeNameError)
	put("healthy")
	expect(mdns.RcodeSuccess)
	if err := reg.Revoke(ctx, lease); err != nil { // the machine died
		t.Fatal(err)
	}
	expect(mdns.RcodeNameError)
}
