package dns

import (
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// Reply is Answer's decision: the sections and the response code.
type Reply struct {
	Rcode  int
	Answer []mdns.RR
	Ns     []mdns.RR // the SOA, on a negative answer
	Extra  []mdns.RR // SRV targets' addresses
}

// serviceNames are the IANA service names an SRV question may use for a
// container port, beside the number itself.
var serviceNames = map[string]uint16{
	"http": 80, "https": 443, "domain": 53, "postgresql": 5432, "mysql": 3306, "redis": 6379,
}

// InZone reports whether name (any case, FQDN) is under the view's domain.
func (v *View) InZone(name string) bool {
	return mdns.IsSubDomain(v.zone, strings.ToLower(mdns.Fqdn(name)))
}

// Answer decides the reply to one question about a name in the view's
// zone (InZone). It never fails: unknown names are NXDOMAIN, other record
// types of a known name NOERROR with no answer (NODATA), other classes
// REFUSED.
func Answer(v *View, q mdns.Question) Reply {
	name := strings.ToLower(mdns.Fqdn(q.Name))
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		return Reply{Rcode: mdns.RcodeRefused}
	}
	if name == v.zone {
		if q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY {
			return Reply{Answer: []mdns.RR{v.soa()}}
		}
		return Reply{Ns: []mdns.RR{v.soa()}}
	}
	if svc, proto, base, ok := v.srvName(name); ok {
		return v.answerSRV(q, svc, proto, base)
	}
	ts, ok := v.names[name]
	if !ok {
		return Reply{Rcode: mdns.RcodeNameError, Ns: []mdns.RR{v.soa()}}
	}
	var r Reply
	switch q.Qtype {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
		r.Answer = v.addrs(q.Name, q.Qtype, ts)
	}
	if len(r.Answer) == 0 {
		r.Ns = []mdns.RR{v.soa()}
	}
	return r
}

// srvName splits "_svc._proto.base" when base is a name of the view.
func (v *View) srvName(name string) (svc, proto, base string, ok bool) {
	labels := mdns.SplitDomainName(name)
	if len(labels) < 3 || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
		return "", "", "", false
	}
	off, _ := mdns.NextLabel(name, 0)
	off, _ = mdns.NextLabel(name, off)
	return labels[0][1:], labels[1][1:], name[off:], true
}

func (v *View) answerSRV(q mdns.Question, svc, proto, base string) Reply {
	ts := v.names[base]
	want, known := serviceNames[svc]
	if n, err := strconv.ParseUint(svc, 10, 16); err == nil {
		want, known = uint16(n), true
	}
	if !known || !hasPort(ts, want, proto) {
		return Reply{Rcode: mdns.RcodeNameError, Ns: []mdns.RR{v.soa()}}
	}
	if q.Qtype != mdns.TypeSRV && q.Qtype != mdns.TypeANY {
		return Reply{Ns: []mdns.RR{v.soa()}} // the name exists, not this type
	}
	var r Reply
	for _, t := range ts {
		for _, p := range t.ports {
			if p.service == want && p.proto == proto {
				r.Answer = append(r.Answer, &mdns.SRV{Hdr: v.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: 1, Port: p.number, Target: t.self})
				r.Extra = append(r.Extra, v.addrs(t.self, mdns.TypeANY, []target{t})...)
			}
		}
	}
	return r
}

func hasPort(ts []target, want uint16, proto string) bool {
	for _, t := range ts {
		for _, p := range t.ports {
			if p.service == want && p.proto == proto {
				return true
			}
		}
	}
	return false
}

// addrs are the A (and AAAA) records of ts, each address once.
func (v *View) addrs(name string, qtype uint16, ts []target) []mdns.RR {
	var out []mdns.RR
	var seen []string
	for _, t := range ts {
		s := t.ip.String()
		if slices.Contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		if ip4 := t.ip.To4(); ip4 != nil {
			if qtype == mdns.TypeA || qtype == mdns.TypeANY {
				out = append(out, &mdns.A{Hdr: v.hdr(name, mdns.TypeA), A: ip4})
			}
		} else if qtype == mdns.TypeAAAA || qtype == mdns.TypeANY {
			out = append(out, &mdns.AAAA{Hdr: v.hdr(name, mdns.TypeAAAA), AAAA: t.ip})
		}
	}
	return out
}

func (v *View) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: t, Class: mdns.ClassINET, Ttl: v.ttl}
}

// soa is the zone's SOA; its minimum (the negative-answer TTL) is the
// view's TTL, so a name that appears is seen as soon as a positive one.
func (v *View) soa() mdns.RR {
	return &mdns.SOA{Hdr: v.hdr(v.zone, mdns.TypeSOA), Ns: "ns." + v.zone, Mbox: "hostmaster." + v.zone,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: v.ttl}
}
