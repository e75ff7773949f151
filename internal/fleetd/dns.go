package fleetd

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/flotilla-os/flotilla/internal/dns"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// DefaultDNSListen is where fleetd serves DNS besides the bridge gateway:
// the node's loopback, port 53, for the host's own lookups.
const DefaultDNSListen = "127.0.0.1:53"

// parseDNSListen reads --dns-listen: host:port, comma-separated.
func parseDNSListen(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		h, p, err := net.SplitHostPort(strings.TrimSpace(a))
		if err != nil || net.ParseIP(h) == nil || p == "" {
			return nil, fmt.Errorf("fleetd: --dns-listen %q: want IP:port (e.g. %s), comma-separated, or '' for none", a, DefaultDNSListen)
		}
		out = append(out, net.JoinHostPort(h, p))
	}
	return out, nil
}

// checkDNSDomain validates --dns-domain.
func checkDNSDomain(d string) error {
	if _, ok := mdns.IsDomainName(d); !ok || d == "" || d == "." || strings.HasPrefix(d, ".") {
		return fmt.Errorf("fleetd: --dns-domain %q: want a domain name such as %s", d, dns.DefaultDomain)
	}
	return nil
}

// bridgeGateway is the bridge's own address (the subnet's first), where
// its containers find the node's DNS; "" without a bridge.
func bridgeGateway(subnet string) string {
	_, n, err := net.ParseCIDR(subnet)
	if err != nil || n.IP.To4() == nil {
		return ""
	}
	ip := n.IP.To4()
	ip[3]++
	return ip.String()
}

// startDNS serves the cluster's names on the loopback addresses and the
// bridge gateway (bridge set: cfg has one and this fleetd runs it). It
// reports whether the gateway serves, so that containers are pointed at
// it only then. A default address that cannot be bound (another DNS on
// this host) is a warning; one the user gave is an error.
func startDNS(cfg Config, bridge bool, logf func(string, ...any)) (*dns.Server, bool, error) {
	opts := dns.Options{Domain: cfg.DNSDomain, ContainerAddrs: cfg.DNSContainerAddrs}
	gw := ""
	if bridge {
		gw = bridgeGateway(cfg.BridgeSubnet)
	}
	var listen, free []string
	if gw != "" {
		free = []string{net.JoinHostPort(gw, "53")}
	}
	listen = cfg.DNSListen
	try := func(listen, free []string) (*dns.Server, error) {
		s := dns.New(dns.Config{Listen: listen, FreeBind: free, Logf: logf}, opts)
		return s, s.Start()
	}
	gwWarn := func(err error) {
		logf("fleetd: %v; containers on the bridge keep their images' resolv.conf", err)
	}
	s, err := try(listen, free)
	if err != nil && len(free) > 0 {
		if s2, err2 := try(listen, nil); err2 == nil { // the gateway failed
			gwWarn(err)
			s, err, free = s2, nil, nil
		}
	}
	if err != nil && cfg.DNSListenDefault {
		logf("fleetd: %v; not serving DNS on %s (give --dns-listen another address, or '' for none)", err, strings.Join(listen, ","))
		s, err = try(nil, free)
		if err != nil && len(free) > 0 {
			gwWarn(err)
			free = nil
			s, err = try(nil, nil)
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("fleetd: --dns-listen: %w", err)
	}
	if len(s.Addrs()) > 0 {
		logf("fleetd: DNS for %s. on %s", strings.TrimSuffix(s.View().Zone(), "."), strings.Join(s.Addrs(), ", "))
	}
	return s, len(free) > 0, nil
}

// followDNS feeds the server's view from the registry until ctx is done.
func followDNS(ctx context.Context, s *dns.Server, reg *registry.Registry, cfg Config, logf func(string, ...any)) {
	opts := dns.Options{Domain: cfg.DNSDomain, ContainerAddrs: cfg.DNSContainerAddrs}
	dns.Follow(ctx, reg, opts, s.SetView, time.Second, logf)
}

// runsBridge reports whether the node has a container bridge whose
// gateway fleetd serves DNS on: one this fleetd sets up (the native
// manager, as root, with containers and a subnet), or init's, when init
// hosts the unit manager (its subnet is --bridge-subnet's default, and its
// containers search the default domain).
func (c Config) runsBridge() bool {
	if _, hosted := c.remoteSocket(); hosted {
		return c.BridgeSubnet != "" && os.Geteuid() == 0
	}
	return c.UnitManager == "native" && !c.NoContainers && c.BridgeSubnet != "" && os.Geteuid() == 0
}
