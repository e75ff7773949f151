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

	"github.com/flotilla-os/flotilla/internal/etcdnode"
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
	TLS       etcdnode.TLS
	Dev       bool
	// ShowVersion: print the version and exit (--version); nothing else is read.
	ShowVersion bool

	UnitManager  string // native (default), systemd, or unix:PATH (hosted by init)
	NoContainers bool   // refuse container units
	Bridge       string // container bridge name
	BridgeSubnet string // per-node container subnet; "" for no bridge
	DockerConfig string // registry credentials (docker config.json)
	// InsecureRegistries are reached over plain HTTP (host:port).
	InsecureRegistries []string
}

const (
	defaultDataDir = "/var/lib/fleetd"
	// DefaultSocket is where fleetctl looks by default.
	DefaultSocket = "/run/fleetd/fleetd.sock"
	devAPI        = "127.0.0.1:7700"
	maxTTL        = 5 * time.Second
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
	fs.StringVar(&c.APIListen, "api-listen", "", "also serve the API on TCP host:port (plaintext only on loopback; mutual TLS with --tls-*)")
	fs.StringVar(&c.APISocket, "api-socket", DefaultSocket, "root-only unix socket for the API")
	fs.StringVar(&c.PublicIP, "public-ip", "", "IP shown in list-machines (default: from --api-listen or --etcd-peer-url, else the first non-loopback address)")
	fs.StringVar(&c.Etcd.PeerURL, "etcd-peer-url", "", "run an etcd member: listen and advertise peer URL")
	fs.StringVar(&c.Etcd.ClientURL, "etcd-client-url", "", "run an etcd member: listen and advertise client URL")
	fs.StringVar(&c.Etcd.InitialCluster, "etcd-initial-cluster", "", "etcd members as n1=http://h:p,n2=... (default: this node alone)")
	fs.StringVar(&c.Etcd.ClusterState, "etcd-initial-cluster-state", "new", "new, or existing to join a running cluster")
	fs.StringVar(&endpoints, "etcd-endpoints", "", "run as a client of these etcd members (comma-separated client URLs)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", "", "PEM certificate for etcd peer/client traffic and the TCP API (mutual TLS)")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&c.TLS.CAFile, "tls-ca", "", "PEM CA that signs every node's certificate and fleetctl's")
	fs.StringVar(&c.UnitManager, "unit-manager", "native", "who runs units: native (fleetd's own supervisor), systemd (over D-Bus, on hosts whose PID 1 is systemd), or unix:PATH (the manager init hosts on that root-only socket; units outlive fleetd)")
	fs.BoolVar(&c.NoContainers, "no-containers", false, "refuse container units (no image store, bridge or cgroups)")
	fs.StringVar(&c.Bridge, "bridge", "flotilla0", "the node's container bridge")
	fs.StringVar(&c.BridgeSubnet, "bridge-subnet", "10.88.0.0/24", "this node's container subnet (Network=bridge); '' for no bridge")
	fs.StringVar(&c.DockerConfig, "docker-config", "", "docker config.json with registry credentials (default ~/.docker/config.json)")
	fs.Func("insecure-registry", "a registry (host:port) to reach over plain HTTP; repeatable", func(v string) error {
		c.InsecureRegistries = append(c.InsecureRegistries, v)
		return nil
	})
	fs.BoolVar(&c.Dev, "dev", false, "one-node cluster with temporary data, API on "+devAPI)
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
	if endpoints != "" {
		c.Etcd.Endpoints = strings.Split(endpoints, ",")
	}
	if c.TTL <= 0 || c.TTL > maxTTL {
		return c, fmt.Errorf("fleetd: --ttl %s: want more than 0 and at most %s", c.TTL, maxTTL)
	}
	if err := c.checkUnitManager(fs, stderr); err != nil {
		return c, err
	}
	if c.Dev {
		return c.devDefaults()
	}
	return c, c.validate()
}

// containerFlags belong to whoever runs the units.
var containerFlags = []string{"no-containers", "bridge", "bridge-subnet", "docker-config", "insecure-registry"}

// checkUnitManager validates --unit-manager; with a hosted manager it warns
// about container flags given, which belong to the host.
func (c *Config) checkUnitManager(fs *flag.FlagSet, stderr io.Writer) error {
	if path, ok := c.remoteSocket(); ok {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("fleetd: --unit-manager %q: want unix: and an absolute socket path, e.g. unix:/run/flotilla/units.sock", c.UnitManager)
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
	member := c.Etcd.PeerURL != "" || c.Etcd.ClientURL != ""
	switch {
	case member && len(c.Etcd.Endpoints) > 0:
		return errors.New("fleetd: give either --etcd-peer-url/--etcd-client-url (member) or --etcd-endpoints (client), not both")
	case member && (c.Etcd.PeerURL == "" || c.Etcd.ClientURL == ""):
		return errors.New("fleetd: an etcd member needs both --etcd-peer-url and --etcd-client-url")
	case !member && len(c.Etcd.Endpoints) == 0:
		// A lone node: a one-member cluster on the default loopback ports.
		c.Etcd.PeerURL, c.Etcd.ClientURL = "http://127.0.0.1:2380", "http://127.0.0.1:2379"
	}
	if c.Name == "" {
		return errors.New("fleetd: --name is empty and the hostname is unknown")
	}
	return nil
}

// devDefaults: temporary data, free loopback ports, API on 127.0.0.1:7700.
func (c Config) devDefaults() (Config, error) {
	dir, err := os.MkdirTemp("", "fleetd-dev-")
	if err != nil {
		return c, err
	}
	c.DataDir, c.Name = dir, "dev"
	if c.APIListen == "" {
		c.APIListen = devAPI
	}
	ports, err := freePorts(2)
	if err != nil {
		return c, err
	}
	c.Etcd = etcdnode.Config{
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	return c, nil
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
