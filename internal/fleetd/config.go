package fleetd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/clusternet"
	"github.com/flotilla-os/flotilla/internal/dns"
	"github.com/flotilla-os/flotilla/internal/etcdclient"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/logforward"
	"github.com/flotilla-os/flotilla/internal/metrics"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/ttl"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Config is everything one fleetd needs.
type Config struct {
	Name      string
	DataDir   string
	Metadata  map[string]string
	TTL       time.Duration
	APIListen string // TCP API; "" for none
	APISocket string // root-only unix socket
	PublicIP  string
	Etcd      etcdnode.Config
	TLS       etcdclient.TLS
	// LocalTLS: a lone member given no --tls-*. Run creates a node-local CA
	// and certificate in <data-dir>/tls and etcd serves only mutual TLS on
	// them, so no other local user (nor a Network=host container) can talk
	// to it.
	LocalTLS bool
	// Dev: a one-node cluster in a temporary data dir that Run creates and
	// removes; the API is the unix socket.
	Dev bool
	// ShowVersion: print the version and exit (--version); nothing else is read.
	ShowVersion bool

	UnitManager  string // native (default), systemd, or unix:PATH (hosted by init)
	NoContainers bool   // refuse container units
	Bridge       string // container bridge name
	// BridgeSubnet is the node's container subnet: "auto" (the default)
	// claims one from ClusterCIDR, a CIDR inside ClusterCIDR claims that
	// one, a CIDR outside it is a lone bridge off the cluster network
	// (issue 10 before the cluster network), "" is no bridge at all.
	BridgeSubnet   string
	ClusterCIDR    string // the cluster network, split into one subnet per machine
	SubnetLen      int    // prefix length of each machine's subnet
	NetworkBackend string // host-gw or vxlan
	// Set by Run once the node has joined the cluster network.
	clusterCIDR  string
	bridgeMTU    int
	DockerConfig string // registry credentials (docker config.json)
	// InsecureRegistries are reached over plain HTTP (host:port).
	InsecureRegistries []string

	// DNS: the cluster domain, the loopback listen addresses (the bridge
	// gateway is added when the node has a bridge), whether the default
	// ones were kept (their bind failing is then only a warning), and
	// whether names answer with container addresses (dns.Options).
	DNSDomain         string
	DNSListen         []string
	DNSListenDefault  bool
	DNSContainerAddrs bool
	dnsOnBridge       bool // set by Run: the gateway serves DNS, containers use it

	// SubmitUnits is a boot config (bootconfig JSON, as init writes it)
	// whose units fleetd submits once it serves, if the cluster does not
	// have them (--submit-units; "" for none).
	SubmitUnits string

	// MetricsListen is the plaintext /metrics address (--metrics-listen;
	// "" for none); MetricsListenDefault: it is the default, whose bind
	// failing is only a warning (several fleetds on one host).
	MetricsListen        string
	MetricsListenDefault bool

	// LogForward are where this node's unit output and fleetd's own log
	// lines are copied (--log-forward, repeatable; internal/logforward).
	LogForward []logforward.Destination

	// Capacity is what units may reserve on this machine ([X-Fleet]
	// ReserveMemory=/ReserveCPU=); each zero field is read from the host.
	Capacity unit.Resources
}

const (
	defaultDataDir = node.FleetdDefaultDataDir
	// DefaultSocket is where fleetctl looks by default.
	DefaultSocket = node.FleetdSocket
	maxTTL        = ttl.Default
)

// ParseFlags reads fleetd's command line.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("fleetd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var metadata, endpoints string
	fs.StringVar(&c.Name, "name", host, "this node's name (etcd member name)")
	fs.StringVar(&c.DataDir, "data-dir", defaultDataDir, "where etcd data, logs and the machine ID live")
	fs.StringVar(&metadata, "metadata", "", "machine metadata for [X-Fleet] MachineMetadata, as k=v,k2=v2")
	fs.DurationVar(&c.TTL, "ttl", maxTTL, "machine lease TTL: a node silent this long is dead and its units move (at most 5s)")
	fs.StringVar(&c.APIListen, "api-listen", "", "also serve the API on TCP host:port; mutual TLS (--tls-*) is required, loopback included")
	fs.StringVar(&c.APISocket, "api-socket", DefaultSocket, "root-only unix socket for the API")
	fs.StringVar(&c.PublicIP, "public-ip", "", "IP shown in list-machines (default: from --api-listen or --etcd-peer-url, else the first non-loopback address)")
	fs.StringVar(&c.Etcd.PeerURL, "etcd-peer-url", "", "run an etcd member: listen and advertise peer URL")
	fs.StringVar(&c.Etcd.ClientURL, "etcd-client-url", "", "run an etcd member: listen and advertise client URL")
	fs.StringVar(&c.Etcd.InitialCluster, "etcd-initial-cluster", "", "etcd members as n1=https://h:p,n2=... (default: this node alone)")
	fs.StringVar(&c.Etcd.ClusterState, "etcd-initial-cluster-state", "new", "new, or existing to join a running cluster")
	fs.StringVar(&endpoints, "etcd-endpoints", "", "run as a client of these etcd members (comma-separated https client URLs)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", "", "PEM certificate for etcd peer/client traffic and the TCP API (mutual TLS)")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&c.TLS.CAFile, "tls-ca", "", "PEM CA that signs every node's certificate and fleetctl's")
	fs.StringVar(&c.UnitManager, "unit-manager", "native", "who runs units: native (fleetd's own supervisor), systemd (over D-Bus, on hosts whose PID 1 is systemd), or unix:PATH (the manager init hosts on that root-only socket; units outlive fleetd)")
	fs.BoolVar(&c.NoContainers, "no-containers", false, "refuse container units (no image store, bridge or cgroups)")
	fs.StringVar(&c.Bridge, "bridge", "flotilla0", "the node's container bridge")
	fs.StringVar(&c.BridgeSubnet, "bridge-subnet", BridgeSubnetAuto, "this node's container subnet (Network=bridge): 'auto' claims one of --cluster-cidr, a subnet of it claims that one, one outside it is a lone bridge off the cluster network, '' is no bridge")
	fs.StringVar(&c.ClusterCIDR, "cluster-cidr", clusternet.DefaultCIDR, "the cluster network: every machine gets one subnet of it (the same on every machine; the first fleetd records it in etcd)")
	fs.IntVar(&c.SubnetLen, "subnet-len", clusternet.DefaultSubnetLen, "prefix length of each machine's subnet of --cluster-cidr")
	fs.StringVar(&c.NetworkBackend, "network-backend", clusternet.DefaultBackend, "how containers reach other machines' subnets: vxlan (works across routers, MTU - 50) or host-gw (routes via each machine's address; every machine on one L2 segment)")
	fs.StringVar(&c.DockerConfig, "docker-config", "", "docker config.json with registry credentials (default ~/.docker/config.json)")
	fs.Func("insecure-registry", "a registry (host:port) to reach over plain HTTP; repeatable", func(v string) error {
		c.InsecureRegistries = append(c.InsecureRegistries, v)
		return nil
	})
	fs.StringVar(&c.DNSDomain, "dns-domain", dns.DefaultDomain, "the cluster domain: units answer as NAME.DOMAIN on the node's DNS; containers search it")
	dnsListen := fs.String("dns-listen", DefaultDNSListen, "serve DNS (UDP and TCP) on these host:port (comma-separated) besides the bridge gateway's port 53; '' for none")
	fs.BoolVar(&c.DNSContainerAddrs, "dns-container-addrs", false, "answer with containers' bridge addresses and ports instead of machine addresses and published ports (always on when the node is on the cluster network, which routes them)")
	fs.StringVar(&c.SubmitUnits, "submit-units", "", "a boot config (JSON) whose units are submitted once fleetd serves, those the cluster does not have yet, once per boot (init passes its config)")
	fs.Func("capacity-cpus", "CPUs units may reserve here, such as 4 or 1.5 (default: the host's)", func(v string) (err error) {
		c.Capacity.MilliCPU, err = unit.ParseCPU(v)
		return err
	})
	fs.Func("capacity-memory", "memory units may reserve here, such as 8G or 512M (default: the host's)", func(v string) (err error) {
		c.Capacity.Memory, err = unit.ParseMemory(v)
		return err
	})
	fs.StringVar(&c.MetricsListen, "metrics-listen", metrics.DefaultListen, "serve /metrics (Prometheus text format) in plaintext on this host:port; loopback by default, any other address only when given here; '' for none (the TLS API serves /metrics too)")
	var logForward []string
	fs.Func("log-forward", "copy every unit's output and fleetd's own log lines to syslog+udp://HOST[:514], syslog+tcp://HOST[:514], syslog+tls://HOST[:6514][?ca=/ca.pem] (RFC 5424) or json+tcp://HOST:PORT (JSON lines); ?buffer=SIZE bounds what waits while the receiver is down (default 1m); repeatable", func(v string) error {
		logForward = append(logForward, v)
		return nil
	})
	fs.BoolVar(&c.Dev, "dev", false, "one-node cluster with temporary data (removed on exit), API on the unix socket")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.ShowVersion {
		return c, nil
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("fleetd: unexpected argument %q: fleetd takes only flags", fs.Arg(0))
	}
	var err error
	if c.Metadata, err = parseMetadata(metadata); err != nil {
		return c, err
	}
	c.DNSListenDefault = *dnsListen == DefaultDNSListen
	if c.DNSListen, err = parseDNSListen(*dnsListen); err != nil {
		return c, err
	}
	if err := checkDNSDomain(c.DNSDomain); err != nil {
		return c, err
	}
	c.MetricsListenDefault = c.MetricsListen == metrics.DefaultListen
	if err := checkMetricsListen(c.MetricsListen); err != nil {
		return c, err
	}
	if c.LogForward, err = logforward.ParseAll(logForward); err != nil {
		return c, fmt.Errorf("fleetd: --log-forward: %w", err)
	}
	if endpoints != "" {
		c.Etcd.Endpoints = strings.Split(endpoints, ",")
	}
	if c.TTL <= 0 || c.TTL > maxTTL {
		return c, fmt.Errorf("fleetd: --ttl %s: want more than 0 and at most %s", c.TTL, maxTTL)
	}
	if err := c.checkNetwork(); err != nil {
		return c, err
	}
	if err := c.checkUnitManager(fs, stderr); err != nil {
		return c, err
	}
	if c.Dev {
		if err := c.devDefaults(); err != nil {
			return c, err
		}
	}
	return c, c.validate()
}

// containerFlags belong to whoever runs the units.
// The bridge subnet and cluster network flags are fleetd's even then: it
// claims the subnet and tells the host (tellHost).
var containerFlags = []string{"no-containers", "bridge", "docker-config", "insecure-registry"}

// checkUnitManager validates --unit-manager; with a hosted manager it warns
// about container flags given, which belong to the host.
func (c *Config) checkUnitManager(fs *flag.FlagSet, stderr io.Writer) error {
	if path, ok := c.remoteSocket(); ok {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("fleetd: --unit-manager %q: want unix: and an absolute socket path, e.g. unix:%s", c.UnitManager, node.UnitsSocket)
		}
		var ignored []string
		fs.Visit(func(f *flag.Flag) {
			if slices.Contains(containerFlags, f.Name) {
				ignored = append(ignored, "--"+f.Name)
			}
		})
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "fleetd: warning: %s ignored: with --unit-manager %s the unit manager's host runs the containers\n", strings.Join(ignored, ", "), c.UnitManager)
		}
		return nil
	}
	if c.UnitManager != "native" && c.UnitManager != "systemd" {
		return fmt.Errorf("fleetd: --unit-manager %q: want native, systemd or unix:PATH", c.UnitManager)
	}
	return nil
}

// remoteSocket is the socket of a hosted unit manager (--unit-manager unix:PATH).
func (c Config) remoteSocket() (string, bool) {
	return strings.CutPrefix(c.UnitManager, "unix:")
}

func parseMetadata(s string) (map[string]string, error) {
	md := map[string]string{}
	if s == "" {
		return md, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("fleetd: --metadata %q: each entry must be key=value", kv)
		}
		md[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return md, nil
}

func (c *Config) validate() error {
	if c.SubmitUnits != "" && c.APISocket == "" {
		return errors.New("fleetd: --submit-units needs --api-socket: the units are submitted through it")
	}
	if c.TLS.Enabled() && (c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "") {
		return errors.New("fleetd: mutual TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	member := c.Etcd.PeerURL != "" || c.Etcd.ClientURL != ""
	switch {
	case member && len(c.Etcd.Endpoints) > 0:
		return errors.New("fleetd: give either --etcd-peer-url/--etcd-client-url (member) or --etcd-endpoints (client), not both")
	case member && (c.Etcd.PeerURL == "" || c.Etcd.ClientURL == ""):
		return errors.New("fleetd: an etcd member needs both --etcd-peer-url and --etcd-client-url")
	case !member && len(c.Etcd.Endpoints) == 0:
		// A lone node: a one-member cluster on the default loopback ports.
		c.Etcd.PeerURL, c.Etcd.ClientURL = node.EtcdPeerURL, node.EtcdClientURL
		member = true
	}
	if c.Name == "" {
		return errors.New("fleetd: --name is empty and the hostname is unknown")
	}
	if !c.TLS.Enabled() {
		switch {
		case !member:
			return fmt.Errorf("fleetd: --etcd-endpoints %s: a client-only node needs --tls-cert, --tls-key and --tls-ca (a certificate of the cluster's CA): etcd serves only mutual TLS", strings.Join(c.Etcd.Endpoints, ","))
		case !c.lone():
			return fmt.Errorf("fleetd: --etcd-initial-cluster %s: a cluster of several members needs --tls-cert, --tls-key and --tls-ca (one CA for all): etcd serves only mutual TLS, and node-local certificates serve only a lone member", c.Etcd.InitialCluster)
		}
		// A lone member gets node-local certificates (Run makes them).
		c.LocalTLS = true
	}
	if err := c.checkEtcdURLs(); err != nil {
		return err
	}
	if c.APIListen != "" && !c.TLS.Enabled() {
		return fmt.Errorf("fleetd: --api-listen %s: the TCP API requires mutual TLS, loopback included (every local user and Network=host container can reach loopback): give --tls-cert, --tls-key and --tls-ca, or use the root-only socket (--api-socket, fleetctl's default)", c.APIListen)
	}
	return nil
}

// lone reports whether this member is the whole cluster: no initial
// cluster, or one naming only itself.
func (c *Config) lone() bool {
	ic := c.Etcd.InitialCluster
	return ic == "" || (!strings.Contains(ic, ",") && strings.HasPrefix(ic, c.Name+"="))
}

// checkEtcdURLs refuses plaintext etcd anywhere, loopback included: a local
// user or a Network=host container reaching a plaintext client port writes
// units that run as root, and one reaching a plaintext peer port forges raft
// messages. Every URL must be https, which needs certificates.
func (c *Config) checkEtcdURLs() error {
	type named struct{ flag, url string }
	var urls []named
	if c.Etcd.PeerURL != "" {
		urls = append(urls, named{"--etcd-peer-url", c.Etcd.PeerURL}, named{"--etcd-client-url", c.Etcd.ClientURL})
	}
	for _, e := range c.Etcd.Endpoints {
		urls = append(urls, named{"--etcd-endpoints", e})
	}
	if c.Etcd.InitialCluster != "" {
		for _, pair := range strings.Split(c.Etcd.InitialCluster, ",") {
			_, u, ok := strings.Cut(pair, "=")
			if !ok {
				return fmt.Errorf("fleetd: --etcd-initial-cluster entry %q: want name=https://host:port", pair)
			}
			urls = append(urls, named{"--etcd-initial-cluster", u})
		}
	}
	for _, n := range urls {
		if err := checkEtcdURL(n.flag, n.url); err != nil {
			return err
		}
	}
	return nil
}

// PlaintextEtcdHint says why plaintext etcd is refused and what to do.
const PlaintextEtcdHint = "plaintext etcd is refused, loopback included: every local user and Network=host container can reach it, write units that run as root and forge raft messages; use https:// with --tls-cert, --tls-key and --tls-ca (a lone member given none gets node-local certificates)"

func checkEtcdURL(flag, s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Port() == "":
		return fmt.Errorf("fleetd: %s %q: want https://host:port", flag, s)
	case u.Scheme == "http":
		return fmt.Errorf("fleetd: %s %s: %s", flag, s, PlaintextEtcdHint)
	case u.Scheme != "https":
		return fmt.Errorf("fleetd: %s %q: want https://host:port", flag, s)
	}
	return nil
}

// devDefaults: a lone member on free loopback ports, node-local TLS, the
// API on the unix socket. Run makes (and removes) the temporary data dir:
// made here, it would leak from the lifeline's outer process, which parses
// the flags too and then only waits.
func (c *Config) devDefaults() error {
	c.DataDir, c.Name = "", "dev"
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	c.Etcd = etcdnode.Config{
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// publicIP picks the address list-machines shows.
func (c Config) publicIP() string {
	if c.PublicIP != "" {
		return c.PublicIP
	}
	if h, _, err := net.SplitHostPort(c.APIListen); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		return h
	}
	if u, err := url.Parse(c.Etcd.PeerURL); err == nil && u.Hostname() != "" && u.Hostname() != "0.0.0.0" {
		return u.Hostname()
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

// checkMetricsListen validates --metrics-listen: host:port with an IP
// literal or localhost, or "" for none. The default is loopback; an
// address reachable from elsewhere serves only when the user names it.
func checkMetricsListen(a string) error {
	if a == "" {
		return nil
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil || p == "" || (h != "localhost" && net.ParseIP(h) == nil) {
		return fmt.Errorf("fleetd: --metrics-listen %q: want IP:port (default %s), or '' for none", a, metrics.DefaultListen)
	}
	return nil
}
