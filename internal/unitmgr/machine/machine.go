package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

// Config is what a host passes to build its unit manager.
type Config struct {
	Dir       string // data root: units/, images/, containers/ live under it
	MachineID string // %m in unit files
	Hostname  string // %H; os.Hostname() when empty

	NoContainers bool   // refuse container units (no image store, bridge or cgroups)
	Bridge       string // the node's container bridge; netbridge's default when empty
	BridgeSubnet string // per-node container subnet (Network=bridge); "" for no bridge
	ClusterCIDR  string // the cluster network holding BridgeSubnet; "" for a lone bridge
	BridgeMTU    int    // MTU of the bridge and veths; 0 for the kernel's default
	DockerConfig string // registry credentials (docker config.json); "" for ~/.docker/config.json
	// InsecureRegistries are reached over plain HTTP (host:port each).
	InsecureRegistries []string
	// SandboxInit is the container init binary; "" re-executes the running
	// binary, whose main must then call sandbox.InitIfRequested first.
	// SandboxInitBeside finds the usual one.
	SandboxInit string
	// DNSDomain, when set, points bridge containers' resolv.conf at the
	// node's DNS on the bridge gateway, searching DNSDomain.
	DNSDomain string

	Logf func(format string, args ...any) // events; default: discard
	// Forward gets a copy of every unit's output (native.Config.Forward).
	Forward func(unit string, stderr bool, p []byte)
}

// Manager is the native unit manager with its container runtime.
type Manager struct {
	*native.Supervisor
	// Containers runs container units and holds the image store; nil when
	// containers are off (not root, or NoContainers).
	Containers *container.Runtime
	network    *netbridge.Network
}

var _ unitmgr.Manager = (*Manager)(nil)

// New starts the container runtime (unless off) and the supervisor.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("nodemgr: Config.Dir is required (the unit manager's data directory)")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	rt, nw, err := StartContainers(cfg)
	if err != nil {
		return nil, err
	}
	sup, err := native.New(native.Config{Dir: filepath.Join(cfg.Dir, "units"), MachineID: cfg.MachineID, Hostname: cfg.Hostname, Logf: cfg.Logf, Containers: rt, Forward: cfg.Forward})
	if err != nil {
		if nw != nil {
			nw.Close()
		}
		return nil, fmt.Errorf("nodemgr: unit manager: %w", err)
	}
	return &Manager{Supervisor: sup, Containers: rt, network: nw}, nil
}

// SetNetwork moves the container bridge to the node's subnet on the
// cluster network (remote.NetworkSetter): init sets the bridge up at boot,
// fleetd claims the subnet later and says so before any unit starts.
func (m *Manager) SetNetwork(subnet, clusterCIDR string, mtu int) error {
	if m.network == nil {
		return fmt.Errorf("nodemgr: no container bridge to move to %s (containers off, or the bridge failed at boot)", subnet)
	}
	return m.network.Reconfigure(subnet, clusterCIDR, mtu)
}

// Close stops every unit, then releases the container bridge's handles.
func (m *Manager) Close() error {
	err := m.Supervisor.Close()
	if m.network != nil {
		err = errors.Join(err, m.network.Close())
	}
	return err
}

// StartContainers sets up the container runtime alone: the image store,
// the node's bridge (when BridgeSubnet is set) and the runtime over them.
// Without root, or with NoContainers, there is none (nil, nil, nil) and
// container units are refused with a message saying so. The systemd
// backend uses it directly; the network is nil when there is no bridge.
func StartContainers(cfg Config) (*container.Runtime, *netbridge.Network, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if os.Geteuid() != 0 || cfg.NoContainers {
		why := "not root"
		if cfg.NoContainers {
			why = "containers turned off"
		}
		logf("nodemgr: container units disabled (%s)", why)
		return nil, nil, nil
	}
	store, err := image.Open(filepath.Join(cfg.Dir, "images"))
	if err != nil {
		return nil, nil, fmt.Errorf("nodemgr: image store: %w", err)
	}
	var nw *netbridge.Network
	if cfg.BridgeSubnet != "" {
		nw, err = netbridge.Setup(netbridge.Config{Bridge: cfg.Bridge, Subnet: cfg.BridgeSubnet, ClusterCIDR: cfg.ClusterCIDR, MTU: cfg.BridgeMTU, Logf: logf})
		if err != nil {
			return nil, nil, fmt.Errorf("nodemgr: container bridge %s (%s): %w; configure no bridge subnet (fleetd: --bridge-subnet '') to run without one", cfg.Bridge, cfg.BridgeSubnet, err)
		}
	}
	rt, err := container.New(container.Config{Dir: filepath.Join(cfg.Dir, "containers"), Images: store, Network: nw, InitPath: cfg.SandboxInit,
		Pull: image.PullOptions{DockerConfig: cfg.DockerConfig}, InsecureRegistries: cfg.InsecureRegistries, DNSDomain: cfg.DNSDomain, Logf: logf})
	if err != nil {
		if nw != nil {
			nw.Close()
		}
		return nil, nil, err
	}
	return rt, nw, nil
}

// SandboxInitName is the container init's file name.
const SandboxInitName = "flotilla-sandbox-init"

// SandboxInitBeside returns the container init installed beside the
// running executable, or "" when there is none (re-execute the binary).
func SandboxInitBeside() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), SandboxInitName)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}
