package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Binaries are built fleetd, fleetctl and container-init executables.
type Binaries struct{ Fleetd, Fleetctl, SandboxInit string }

var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
)

// Build compiles ./fleetd and ./fleetctl once per process into a temp dir.
func Build() (Binaries, error) {
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "flotilla-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// A UserNS=auto container's mapped root execs the init from here.
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		built = Binaries{Fleetd: filepath.Join(dir, "fleetd"), Fleetctl: filepath.Join(dir, "fleetctl"), SandboxInit: filepath.Join(dir, "flotilla-sandbox-init")}
		// fleetd finds its container init beside itself.
		cmd := exec.Command("go", "build", "-o", dir+"/", "./fleetd", "./fleetctl", "./flotilla-sandbox-init")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	return built, buildErr
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the flotilla module")
	}
	return filepath.Dir(mod), nil
}
