package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// commands are the static binaries a build makes: main package directory →
// name. The root carries flotilla, the multi-call binary that is init,
// fleetd, fleetctl and updater (links), and the small container init; the
// initramfs carries the stand-alone init, which is half flotilla's size.
var commands = []struct{ pkg, name string }{
	{"./init", "init"},
	{"./flotilla", "flotilla"},
	{"./flotilla-sandbox-init", "flotilla-sandbox-init"},
}

// multiCall are the programs flotilla is, by the name of a link to it.
var multiCall = []string{"fleetd", "fleetctl", "updater"}

// buildBinaries compiles the commands into dir as static, reproducible
// binaries stamped with version. A command whose directory does not exist
// yet (updater before its issue lands) is skipped.
func buildBinaries(ctx context.Context, root, dir, version, broken string, logf func(string, ...any)) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	goBin, err := goCommand()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var pkgs []string
	for _, c := range commands {
		pkgs = append(pkgs, c.pkg)
		out[c.name] = filepath.Join(dir, c.name)
	}
	logf("building %s (static, -trimpath, version %s)", strings.Join(pkgs, " "), version)
	for _, c := range commands {
		if out[c.name] == "" {
			continue
		}
		ldflags := "-s -w -buildid= -X github.com/flotilla-os/flotilla/internal/version.Version=" + version
		if c.name == "init" && broken != "" {
			ldflags += " '-X=github.com/flotilla-os/flotilla/internal/initd.BrokenOnPurpose=" + strings.ReplaceAll(broken, "'", "") + "'"
		}
		args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out[c.name], c.pkg}
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", c.pkg, err, b)
		}
	}
	// Links for the host too: tests and users run DIR/build/bin/fleetctl
	// and updater (publish, serve).
	for _, name := range multiCall {
		link := filepath.Join(dir, name)
		os.Remove(link)
		if err := os.Symlink("flotilla", link); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go", nil
	}
	return "", errors.New("imagebuild: no go command in PATH or /usr/local/go/bin")
}

// ModuleRoot finds the repository root (the go.mod of this module) from the
// working directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/flotilla-os/flotilla\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("imagebuild: run image-build from inside the Flotilla repository (no go.mod of github.com/flotilla-os/flotilla above the working directory)")
		}
		dir = parent
	}
}
