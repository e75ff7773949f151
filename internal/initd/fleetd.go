package initd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
)

// Where things are on a booted node.
const (
	FleetdBin  = "/usr/bin/fleetd"
	UpdaterBin = "/usr/bin/updater"
)

// FleetdArgs builds fleetd's command line from the config. name is the
// member name (the config's, else the hostname), publicIP the node's first
// configured address ("" to let fleetd pick), tls the written bundle (nil
// without one). Without TLS there is no TCP API (fleetd requires mutual TLS
// there, loopback included; the root-only socket serves) and the node is a
// lone member on fleetd's defaults: etcd over https on loopback with
// node-local certificates, which fleetd makes.
func FleetdArgs(cfg *bootconfig.Config, name, varDir, publicIP string, tls *TLSFiles) []string {
	if cfg == nil {
		cfg = &bootconfig.Config{}
	}
	args := []string{FleetdBin,
		"--name", name,
		"--data-dir", filepath.Join(varDir, node.FleetdDataDir),
	}
	if tls != nil {
		args = append(args, "--api-listen", "0.0.0.0:"+strconv.Itoa(node.APIPort))
	}
	args = append(args, "--unit-manager", "unix:"+node.UnitsSocket)
	if md := metadataArg(cfg.Metadata); md != "" {
		args = append(args, "--metadata", md)
	}
	if tls != nil {
		args = append(args, "--tls-cert", tls.Cert, "--tls-key", tls.Key, "--tls-ca", tls.CA)
	}
	c := cfg.Cluster
	if cfg.IsMember() {
		peer, cl := c.PeerURL, c.ClientURL
		if peer == "" && cl == "" && tls != nil {
			peer, cl = node.EtcdPeerURL, node.EtcdClientURL
		}
		if peer != "" || cl != "" {
			args = append(args, "--etcd-peer-url", peer, "--etcd-client-url", cl)
		}
		if c.InitialCluster != "" {
			args = append(args, "--etcd-initial-cluster", c.InitialCluster)
		}
	} else {
		args = append(args, "--etcd-endpoints", strings.Join(c.Endpoints, ","))
	}
	if publicIP != "" {
		args = append(args, "--public-ip", publicIP)
	}
	// The cluster network: fleetd claims the subnet and tells this init's
	// unit manager (BridgeSubnet is only the bridge's boot-time subnet).
	if n := c.Network; n.CIDR != "" {
		args = append(args, "--cluster-cidr", n.CIDR)
	}
	if n := c.Network; n.SubnetLen != 0 {
		args = append(args, "--subnet-len", strconv.Itoa(n.SubnetLen))
	}
	if n := c.Network; n.Backend != "" {
		args = append(args, "--network-backend", n.Backend)
	}
	if len(cfg.Units) > 0 {
		// fleetd submits them once it serves (init writes the effective
		// config there before it starts fleetd).
		args = append(args, "--submit-units", node.ConfigPath)
	}
	return args
}

func metadataArg(md map[string]string) string {
	kv := make([]string, 0, len(md))
	for k, v := range md {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// FirstStaticIP is the first configured static address, without its
// prefix length; "" when there is none.
func FirstStaticIP(cfg *bootconfig.Config) string {
	if cfg == nil {
		return ""
	}
	for _, ifc := range cfg.Network.Interfaces {
		for _, a := range ifc.Addresses {
			if ip, _, err := net.ParseCIDR(a); err == nil {
				return ip.String()
			}
		}
	}
	return ""
}

// FleetdNotifySocket is where fleetd tells init it is ready, sd_notify's
// READY=1 (init passes it as NOTIFY_SOCKET).
const FleetdNotifySocket = "/run/flotilla/fleetd.notify"

// ListenNotify opens a datagram socket at path for sd_notify messages.
func ListenNotify(path string) (*net.UnixConn, error) {
	os.Remove(path)
	return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
}

// WaitFleetd returns once fleetd says READY=1 on notify (nil: no socket)
// or its API socket sock accepts a connection, or fails when ctx ends. The
// message comes the moment fleetd serves; connecting is the fallback (a
// readiness probe only: init makes no API call), since fleetd listens on
// the socket only once it is about to serve.
func WaitFleetd(ctx context.Context, sock string, notify *net.UnixConn) error {
	ready := make(chan struct{})
	every := 250 * time.Millisecond
	if notify != nil {
		every = 2 * time.Second
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := notify.Read(buf)
				if err != nil {
					return
				}
				if slices.Contains(strings.Split(string(buf[:n]), "\n"), "READY=1") {
					close(ready)
					return
				}
			}
		}()
	}
	var err error
	var d net.Dialer
	for {
		select {
		case <-ready:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("fleetd did not answer on %s: %w (last error: %v)", sock, ctx.Err(), err)
		case <-time.After(every):
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var c net.Conn
		c, err = d.DialContext(cctx, "unix", sock)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
	}
}

// UpdaterService is the updater's service when the root carries it.
func UpdaterService() (Service, bool) {
	if st, err := os.Stat(UpdaterBin); err != nil || !st.Mode().IsRegular() {
		return Service{}, false
	}
	return Service{Name: "updater", Argv: []string{UpdaterBin, "daemon"}, Console: true}, true
}
