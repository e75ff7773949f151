package dns

import (
	"net"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// DefaultDomain is the cluster domain when none is configured.
const DefaultDomain = "flotilla"

// DefaultTTL (seconds) of every answer: a client that asks again after a
// failover gets the new home within a second.
const DefaultTTL = 1

// Options shape a View.
type Options struct {
	Domain string // cluster domain; DefaultDomain when empty
	TTL    uint32 // DefaultTTL when zero
	// ContainerAddrs answers with an endpoint's bridge address (and the
	// container's ports) when it has one: for a cluster network that
	// routes container subnets between nodes.
	ContainerAddrs bool
}

// View is what the DNS answers from: every name of every healthy
// endpoint, built once per change of the endpoints. It is immutable.
type View struct {
	zone  string // lower-case FQDN of the domain, "flotilla."
	ttl   uint32
	names map[string][]target // lower-case FQDN → its endpoints
}

// target is one endpoint as a name answers it.
type target struct {
	ip    net.IP
	self  string // the endpoint's own name (SRV target)
	ports []port
}

type port struct {
	number  uint16 // what a client connects to (host or container port)
	service uint16 // the container port: the SRV service label
	proto   string
}

// Zone is the view's domain as a lower-case FQDN.
func (v *View) Zone() string { return v.zone }

// NewView builds the view of eps (keyed as registry.Endpoints keys them).
func NewView(opts Options, eps map[string]*registry.Endpoint) *View {
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	v := &View{zone: mdns.CanonicalName(opts.Domain), ttl: opts.TTL, names: map[string][]target{}}
	keys := make([]string, 0, len(eps))
	for k := range eps {
		keys = append(keys, k)
	}
	slices.Sort(keys) // answers in a stable order
	for _, k := range keys {
		v.add(opts, eps[k])
	}
	return v
}

// Serves reports whether DNS answers for an endpoint of this health.
func Serves(health string) bool { return health == "" || health == "healthy" }

func (v *View) add(opts Options, e *registry.Endpoint) {
	if e == nil || !Serves(e.Health) {
		return
	}
	n, err := unit.ParseName(e.Unit)
	if err != nil || n.Suffix() != "service" || strings.ContainsRune(e.Unit, '\\') {
		return
	}
	ip := net.ParseIP(e.MachineAddr)
	useContainer := opts.ContainerAddrs && net.ParseIP(e.Addr) != nil
	if useContainer {
		ip = net.ParseIP(e.Addr)
	}
	if ip == nil || e.Machine == "" || strings.ContainsAny(e.Machine, ".\\") {
		return
	}
	prefix := strings.ToLower(n.Prefix()) + "." + v.zone
	t := target{ip: ip}
	for _, p := range e.Ports {
		num := p.HostPort
		if useContainer {
			num = p.ContainerPort
		}
		t.ports = append(t.ports, port{number: num, service: p.ContainerPort, proto: strings.ToLower(p.Protocol)})
	}
	own := strings.ToLower(e.Machine) + "." + prefix
	t.self = own
	if inst := n.Instance(); inst != "" {
		t.self = strings.ToLower(inst) + "." + prefix
	}
	for _, name := range []string{own, t.self} {
		if _, ok := mdns.IsDomainName(name); !ok || len(name) > 253 {
			return // a label over 63 bytes, a name over 255: no name
		}
	}
	if t.self != own {
		v.names[t.self] = append(v.names[t.self], t)
	}
	v.names[prefix] = append(v.names[prefix], t)
	v.names[own] = append(v.names[own], t) // two instances here: both
}
