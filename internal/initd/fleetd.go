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

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/unit"
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
			peer, cl = "https://127.0.0.1:2380", "https://127.0.0.1:2379"
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
// or its API socket answers, or fails when ctx ends. The message comes
// the moment fleetd serves; polling the API is the fallback, and under
// QEMU without KVM a first request costs about a second.
func WaitFleetd(ctx context.Context, c *client.Client, notify *net.UnixConn) error {
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
	for {
		select {
		case <-ready:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("fleetd did not answer on %s: %w (last error: %v)", c.Endpoint(), ctx.Err(), err)
		case <-time.After(every):
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = c.Machines(cctx)
		cancel()
		if err == nil {
			return nil
		}
	}
}

// NewLocalClient is a client of fleetd's root-only API socket.
func NewLocalClient() (*client.Client, error) {
	return client.New("unix://"+node.FleetdSocket, client.Options{Timeout: 10 * time.Second})
}

// SubmitUnits submits the config's units that the cluster does not have
// yet, launched unless the unit says start: false (then only submitted).
// Units that exist are left alone, whatever their state: the config is a
// first-boot seed, not a desired state. It returns the names submitted.
func SubmitUnits(ctx context.Context, c *client.Client, units []bootconfig.Unit) ([]string, error) {
	var done []string
	for i, u := range units {
		f, err := unit.Parse(u.Name, []byte(u.Contents))
		if err != nil {
			return done, fmt.Errorf("config units[%d] (%s): %w", i, u.Name, err)
		}
		have, err := c.Unit(ctx, u.Name)
		if err != nil {
			return done, fmt.Errorf("look up unit %s: %w", u.Name, err)
		}
		if have != nil {
			continue
		}
		state := "launched"
		if !u.ShouldStart() {
			state = "inactive"
		}
		if err := c.CreateUnit(ctx, &schema.Unit{Name: u.Name, Options: f.Options, DesiredState: state}, false); err != nil {
			return done, fmt.Errorf("submit unit %s: %w", u.Name, err)
		}
		done = append(done, u.Name)
	}
	return done, nil
}

// UpdaterService is the updater's service when the root carries it.
func UpdaterService() (Service, bool) {
	if st, err := os.Stat(UpdaterBin); err != nil || !st.Mode().IsRegular() {
		return Service{}, false
	}
	return Service{Name: "updater", Argv: []string{UpdaterBin, "daemon"}, Console: true}, true
}
