package dns

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/flotilla-os/flotilla/internal/registry"
)

func testEndpoints() map[string]*registry.Endpoint {
	ep := func(machine, addr, unit, caddr, health string, ports ...registry.Port) *registry.Endpoint {
		return &registry.Endpoint{Unit: unit, Machine: machine, MachineAddr: addr, Addr: caddr, Health: health, Ports: ports}
	}
	tcp := func(h, c uint16) registry.Port { return registry.Port{HostPort: h, ContainerPort: c, Protocol: "tcp"} }
	eps := map[string]*registry.Endpoint{}
	for _, e := range []*registry.Endpoint{
		ep("m1", "192.0.2.1", "db.service", "10.88.1.2", "", tcp(5432, 5432)),
		ep("m1", "192.0.2.1", "web@1.service", "10.88.1.3", "healthy", tcp(8080, 80)),
		ep("m2", "192.0.2.2", "web@2.service", "10.88.2.3", "", tcp(8080, 80)),
		ep("m3", "192.0.2.3", "web@3.service", "10.88.3.3", "unhealthy", tcp(8080, 80)),
		ep("m2", "192.0.2.2", "cache.service", "", "starting"),
		ep("m1", "192.0.2.1", "Mixed.service", "", ""),
		ep("m1", "192.0.2.1", "agent.service", "", ""),
		ep("m2", "192.0.2.2", "agent.service", "", ""), // a Global unit
		ep("m2", "2001:db8::2", "v6.service", "", ""),
		ep("m1", "192.0.2.1", "tick.timer", "", ""),
		ep("m1", "not-an-ip", "bad.service", "", ""),
	} {
		eps[registry.EndpointKey(e.Machine, e.Unit)] = e
	}
	return eps
}

// show renders a reply compactly: rcode, then each answer's data.
func show(r Reply) string {
	out := []string{mdns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[3:], " "))
	}
	if len(r.Extra) > 0 {
		out = append(out, "+")
		for _, rr := range r.Extra {
			f := strings.Fields(rr.String())
			out = append(out, f[0]+" "+strings.Join(f[3:], " "))
		}
	}
	return strings.Join(out, " | ")
}

func TestAnswer(t *testing.T) {
	machine := NewView(Options{}, testEndpoints())
	container := NewView(Options{Domain: "Cluster.Example", ContainerAddrs: true}, testEndpoints())
	for _, tc := range []struct {
		view  *View
		name  string
		qtype uint16
		want  string
	}{
		{machine, "db.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1"},
		{machine, "DB.Flotilla", mdns.TypeA, "NOERROR | A 192.0.2.1"}, // case, no trailing dot
		{machine, "db.flotilla.", mdns.TypeAAAA, "NOERROR"},           // NODATA
		{machine, "db.flotilla.", mdns.TypeMX, "NOERROR"},
		{machine, "db.flotilla.", mdns.TypeANY, "NOERROR | A 192.0.2.1"},
		{machine, "nope.flotilla.", mdns.TypeA, "NXDOMAIN"},
		{machine, "web.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1 | A 192.0.2.2"}, // 3 unhealthy: out
		{machine, "1.web.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1"},
		{machine, "2.web.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.2"},
		{machine, "3.web.flotilla.", mdns.TypeA, "NXDOMAIN"},
		{machine, "cache.flotilla.", mdns.TypeA, "NXDOMAIN"}, // starting
		{machine, "mixed.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1"},
		{machine, "agent.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1 | A 192.0.2.2"},
		{machine, "m2.agent.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.2"},
		{machine, "m1.db.flotilla.", mdns.TypeA, "NOERROR | A 192.0.2.1"},
		{machine, "v6.flotilla.", mdns.TypeAAAA, "NOERROR | AAAA 2001:db8::2"},
		{machine, "v6.flotilla.", mdns.TypeA, "NOERROR"},
		{machine, "tick.flotilla.", mdns.TypeA, "NXDOMAIN"}, // not a service
		{machine, "bad.flotilla.", mdns.TypeA, "NXDOMAIN"},
		{machine, "flotilla.", mdns.TypeSOA, "NOERROR | SOA ns.flotilla. hostmaster.flotilla. 1 3600 600 86400 1"},
		{machine, "flotilla.", mdns.TypeA, "NOERROR"},
		{machine, "_80._tcp.web.flotilla.", mdns.TypeSRV,
			"NOERROR | SRV 0 1 8080 1.web.flotilla. | SRV 0 1 8080 2.web.flotilla. | + | 1.web.flotilla. A 192.0.2.1 | 2.web.flotilla. A 192.0.2.2"},
		{machine, "_http._tcp.web.flotilla.", mdns.TypeSRV,
			"NOERROR | SRV 0 1 8080 1.web.flotilla. | SRV 0 1 8080 2.web.flotilla. | + | 1.web.flotilla. A 192.0.2.1 | 2.web.flotilla. A 192.0.2.2"},
		{machine, "_postgresql._tcp.db.flotilla.", mdns.TypeSRV, "NOERROR | SRV 0 1 5432 m1.db.flotilla. | + | m1.db.flotilla. A 192.0.2.1"},
		{machine, "_5432._tcp.db.flotilla.", mdns.TypeA, "NOERROR"},
		{machine, "_5432._udp.db.flotilla.", mdns.TypeSRV, "NXDOMAIN"},
		{machine, "_81._tcp.web.flotilla.", mdns.TypeSRV, "NXDOMAIN"},
		{machine, "_gopher._tcp.web.flotilla.", mdns.TypeSRV, "NXDOMAIN"},
		{machine, "_80._tcp.nope.flotilla.", mdns.TypeSRV, "NXDOMAIN"},
		{container, "web.cluster.example.", mdns.TypeA, "NOERROR | A 10.88.1.3 | A 10.88.2.3"},
		{container, "agent.cluster.example.", mdns.TypeA, "NOERROR | A 192.0.2.1 | A 192.0.2.2"}, // host network
		{container, "_80._tcp.1.web.cluster.example.", mdns.TypeSRV, "NOERROR | SRV 0 1 80 1.web.cluster.example. | + | 1.web.cluster.example. A 10.88.1.3"},
		{container, "db.flotilla.", mdns.TypeA, "NXDOMAIN"}, // Answer is only asked InZone names
	} {
		got := show(Answer(tc.view, mdns.Question{Name: tc.name, Qtype: tc.qtype, Qclass: mdns.ClassINET}))
		if got != tc.want {
			t.Errorf("%s %s (zone %s):\n got %s\nwant %s", tc.name, mdns.TypeToString[tc.qtype], tc.view.Zone(), got, tc.want)
		}
	}
	if r := Answer(machine, mdns.Question{Name: "db.flotilla.", Qtype: mdns.TypeA, Qclass: mdns.ClassCHAOS}); r.Rcode != mdns.RcodeRefused {
		t.Errorf("CHAOS class: %s, want REFUSED", show(r))
	}
	if r := Answer(machine, mdns.Question{Name: "nope.flotilla.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}); len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
		t.Errorf("NXDOMAIN without the SOA: %v", r.Ns)
	}
	for _, n := range []string{"db.flotilla.", "a.b.c.flotilla", "FLOTILLA"} {
		if !machine.InZone(n) {
			t.Errorf("%s not in zone flotilla.", n)
		}
	}
	for _, n := range []string{"example.com.", "flotilla.com.", "xflotilla."} {
		if machine.InZone(n) {
			t.Errorf("%s in zone flotilla.", n)
		}
	}
	// Every answer carries the short TTL.
	for _, rr := range Answer(machine, mdns.Question{Name: "web.flotilla.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}).Answer {
		if rr.Header().Ttl != DefaultTTL {
			t.Errorf("TTL %d, want %d", rr.Header().Ttl, DefaultTTL)
		}
	}
}

// FuzzAnswer: any question, against a view of any endpoints, gets a reply
// that packs into a valid message, with no panic, and only answers for
// the name asked.
func FuzzAnswer(f *testing.F) {
	f.Add("web.flotilla.", uint16(mdns.TypeA), "web@1.service", "m1", "192.0.2.1", "10.0.0.1", uint16(80), true)
	f.Add("_80._tcp.web.flotilla.", uint16(mdns.TypeSRV), "web@1.service", "m1", "192.0.2.1", "", uint16(80), false)
	f.Add("..flotilla.", uint16(mdns.TypeANY), "a.b@c.d.service", "m.1", "::1", "x", uint16(0), true)
	f.Fuzz(func(t *testing.T, name string, qtype uint16, unitName, machine, addr, caddr string, p uint16, container bool) {
		eps := testEndpoints()
		eps["fuzz"] = &registry.Endpoint{Unit: unitName, Machine: machine, MachineAddr: addr, Addr: caddr,
			Ports: []registry.Port{{HostPort: p, ContainerPort: p, Protocol: "tcp"}}}
		v := NewView(Options{ContainerAddrs: container}, eps)
		q := mdns.Question{Name: name, Qtype: qtype, Qclass: mdns.ClassINET}
		if _, ok := mdns.IsDomainName(name); !ok || !v.InZone(name) {
			return
		}
		r := Answer(v, q)
		m := new(mdns.Msg)
		m.SetQuestion(mdns.Fqdn(name), qtype)
		m.Rcode, m.Answer, m.Ns, m.Extra = r.Rcode, r.Answer, r.Ns, r.Extra
		if _, err := m.Pack(); err != nil {
			t.Fatalf("%s %d: reply does not pack: %v", name, qtype, err)
		}
		for _, rr := range r.Answer {
			if !strings.EqualFold(rr.Header().Name, mdns.Fqdn(name)) {
				t.Fatalf("answer for %s to a question about %s", rr.Header().Name, name)
			}
		}
		if r.Rcode == mdns.RcodeNameError && len(r.Answer) > 0 {
			t.Fatal("NXDOMAIN with answers")
		}
	})
}
