package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
)

type v2Group struct {
	m    *cgroup2.Manager
	path string
}

// newV2 creates mountpoint/name; mountpoint is Root on unified hosts (tests
// use the hybrid host's v2 tree).
func newV2(mountpoint, name string, r Resources) (*v2Group, error) {
	res := &cgroup2.Resources{}
	if r.MemoryMax > 0 || r.MemoryHigh > 0 {
		res.Memory = &cgroup2.Memory{}
		if r.MemoryMax > 0 {
			res.Memory.Max = &r.MemoryMax
		}
		if r.MemoryHigh > 0 {
			res.Memory.High = &r.MemoryHigh
		}
	}
	if r.CPUQuota > 0 || r.CPUWeight > 0 {
		res.CPU = &cgroup2.CPU{}
		if r.CPUQuota > 0 {
			quota, period := int64(r.CPUQuota)*1000, uint64(100000)
			res.CPU.Max = cgroup2.NewCPUMax(&quota, &period)
		}
		if r.CPUWeight > 0 {
			res.CPU.Weight = &r.CPUWeight
		}
	}
	if r.TasksMax > 0 {
		res.Pids = &cgroup2.Pids{Max: r.TasksMax}
	}
	if r.Devices != nil {
		// A BPF_CGROUP_DEVICE program on the group; it needs no controller.
		res.Devices = deviceRules(r.Devices)
	}
	controllers := res.EnabledControllers()
	if r.IOWeight > 0 {
		controllers = append(controllers, "io")
	}
	if err := enableV2(mountpoint, name, controllers); err != nil {
		return nil, err
	}
	m, err := cgroup2.NewManager(mountpoint, "/"+name, res)
	if err != nil {
		return nil, err
	}
	g := &v2Group{m: m, path: filepath.Join(mountpoint, name)}
	if r.IOWeight > 0 {
		if err := writeFirst(g.path, "default "+strconv.FormatUint(r.IOWeight, 10), "io.weight", "io.bfq.weight"); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// enableV2 enables controllers in cgroup.subtree_control from the
// mountpoint down to name's parent, naming the controller the host lacks.
func enableV2(mountpoint, name string, controllers []string) error {
	if len(controllers) == 0 {
		return nil
	}
	have, err := os.ReadFile(filepath.Join(mountpoint, "cgroup.controllers"))
	if err != nil {
		return err
	}
	for _, c := range controllers {
		if !strings.Contains(" "+strings.TrimSpace(string(have))+" ", " "+c+" ") {
			return fmt.Errorf("controller %s is not available in %s (has: %s)", c, mountpoint, strings.TrimSpace(string(have)))
		}
	}
	dir := mountpoint
	parts := strings.Split(name, "/")
	for _, p := range parts {
		ctl := filepath.Join(dir, "cgroup.subtree_control")
		if err := os.WriteFile(ctl, []byte("+"+strings.Join(controllers, " +")), 0); err != nil {
			return fmt.Errorf("enable %v in %s: %w", controllers, ctl, err)
		}
		dir = filepath.Join(dir, p)
		if dir == filepath.Join(mountpoint, name) {
			break
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// writeFirst writes value to the first of files that exists in dir; none
// existing is not an error (see the package documentation on IOWeight).
func writeFirst(dir, value string, files ...string) error {
	for _, f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			return fmt.Errorf("write %q to %s: %w", value, p, err)
		}
		return nil
	}
	return nil
}

func (g *v2Group) Path() string { return g.path }

func (g *v2Group) Add(pid int) error {
	if err := g.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("cgroups: add pid %d to %s: %w", pid, g.path, err)
	}
	return nil
}

func (g *v2Group) Procs() ([]int, error) { return readProcs(g.path) }

// Kill writes cgroup.kill (Linux 5.14+), else freezes and signals in rounds.
func (g *v2Group) Kill() error {
	var err error
	if werr := os.WriteFile(filepath.Join(g.path, "cgroup.kill"), []byte("1"), 0); werr == nil {
		err = waitEmpty(g.Procs)
	} else {
		freeze := func() error { return g.m.Freeze() }
		thaw := func() error { return g.m.Thaw() }
		err = killLoop(g.Procs, freeze, thaw)
	}
	if err != nil {
		return fmt.Errorf("cgroups: kill %s: %w", g.path, err)
	}
	return nil
}

// Freeze writes cgroup.freeze and waits for cgroup.events to say frozen.
func (g *v2Group) Freeze() error {
	if err := g.m.Freeze(); err != nil {
		return fmt.Errorf("cgroups: freeze %s: %w", g.path, err)
	}
	return nil
}

func (g *v2Group) Thaw() error {
	if err := g.m.Thaw(); err != nil {
		return fmt.Errorf("cgroups: thaw %s: %w", g.path, err)
	}
	return nil
}

func (g *v2Group) OOMKilled() (bool, error) {
	n, _, err := readKey(filepath.Join(g.path, "memory.events"), "oom_kill")
	if err != nil {
		return false, fmt.Errorf("cgroups: %w", err)
	}
	return n > 0, nil
}

func (g *v2Group) Delete() error {
	if err := g.m.Delete(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroups: delete %s: %w", g.path, err)
	}
	return nil
}
