package fleetd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/netbridge"
)

// startContainers sets up the container runtime: the image store, the
// node's bridge, and the runtime over them. Without root there is none,
// and container units are refused with a message saying so.
func startContainers(cfg Config, logf func(string, ...any)) (*container.Runtime, error) {
	if os.Geteuid() != 0 || cfg.NoContainers {
		logf("fleetd: container units disabled (%s)", map[bool]string{true: "--no-containers", false: "not root"}[cfg.NoContainers])
		return nil, nil
	}
	store, err := image.Open(filepath.Join(cfg.DataDir, "images"))
	if err != nil {
		return nil, fmt.Errorf("fleetd: image store: %w", err)
	}
	var nw *netbridge.Network
	if cfg.BridgeSubnet != "" {
		nw, err = netbridge.Setup(netbridge.Config{Bridge: cfg.Bridge, Subnet: cfg.BridgeSubnet, Logf: logf})
		if err != nil {
			return nil, fmt.Errorf("fleetd: container bridge %s (%s): %w; start with --bridge-subnet '' to run without one", cfg.Bridge, cfg.BridgeSubnet, err)
		}
	}
	return container.New(container.Config{Dir: filepath.Join(cfg.DataDir, "containers"), Images: store, Network: nw, InitPath: initBinary(),
		Pull: image.PullOptions{DockerConfig: cfg.DockerConfig}, InsecureRegistries: cfg.InsecureRegistries, Logf: logf})
}

// InitBinary is the container init's file name, looked for beside fleetd.
const InitBinary = "flotilla-sandbox-init"

// initBinary returns the container init installed beside fleetd, or "" to
// re-execute fleetd itself.
func initBinary() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), InitBinary)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}
