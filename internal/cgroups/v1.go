package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Controllers are the hierarchies a unit's group may be created in, when
// mounted. freezer makes Kill race-free against forks.
var v1Controllers = []cgroup1.Name{cgroup1.Memory, cgroup1.Pids, cgroup1.Cpu, cgroup1.Blkio, cgroup1.Freezer, cgroup1.Devices}

// v1Needed reports whether a group with limits r joins hierarchy c. Every
// join is a write to that hierarchy's cgroup.procs, and on v1 each costs the
// kernel an RCU grace period (milliseconds): join only what the limits use,
// plus memory (OOM kills are counted there) and freezer (for Kill).
func v1Needed(c cgroup1.Name, r Resources) bool {
	switch c {
	case cgroup1.Memory, cgroup1.Freezer:
		return true
	case cgroup1.Pids:
		return r.TasksMax > 0
	case cgroup1.Cpu:
		return r.CPUQuota > 0 || r.CPUWeight > 0
	case cgroup1.Blkio:
		return r.IOWeight > 0
	case cgroup1.Devices:
		return r.Devices != nil
	}
	return false
}

type v1Group struct {
	cg   cgroup1.Cgroup
	rel  string // "/flotilla/web.service"
	root string
	dirs []string // the group's directory in each hierarchy
}

func newV1(root, name string, r Resources) (*v1Group, error) {
	g := &v1Group{rel: "/" + name, root: root}
	var subs []cgroup1.Subsystem
	for _, c := range v1Controllers {
		if !v1Needed(c, r) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, string(c), "cgroup.procs")); err != nil {
			continue
		}
		switch c {
		case cgroup1.Memory:
			subs = append(subs, cgroup1.NewMemory(root))
		case cgroup1.Pids:
			subs = append(subs, cgroup1.NewPids(root))
		case cgroup1.Cpu:
			subs = append(subs, cgroup1.NewCpu(root))
		case cgroup1.Cpuacct:
			subs = append(subs, cgroup1.NewCpuacct(root))
		case cgroup1.Blkio:
			subs = append(subs, cgroup1.NewBlkio(root))
		case cgroup1.Freezer:
			subs = append(subs, cgroup1.NewFreezer(root))
		case cgroup1.Devices:
			subs = append(subs, cgroup1.NewDevices(root))
		}
		g.dirs = append(g.dirs, filepath.Join(root, string(c), name))
	}
	if err := g.require(r); err != nil {
		return nil, err
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) { return subs, nil }
	cg, err := cgroup1.New(cgroup1.StaticPath(g.rel), v1Spec(r), cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		return nil, err
	}
	g.cg = cg
	if r.IOWeight > 0 {
		w := strconv.FormatUint(ioWeightV1(r.IOWeight), 10)
		if err := writeFirst(g.dir(cgroup1.Blkio), w, "blkio.weight", "blkio.bfq.weight"); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// require fails when a limit's controller is not mounted.
func (g *v1Group) require(r Resources) error {
	need := map[cgroup1.Name]bool{
		cgroup1.Memory: r.MemoryMax > 0 || r.MemoryHigh > 0,
		cgroup1.Cpu:    r.CPUQuota > 0 || r.CPUWeight > 0,
		cgroup1.Pids:   r.TasksMax > 0,
		// A unit that asks for a device allow-list must not run without it.
		cgroup1.Devices: r.Devices != nil,
	}
	for c, n := range need {
		if n && g.dir(c) == "" {
			return fmt.Errorf("controller %s is not mounted at %s/%s", c, g.root, c)
		}
	}
	return nil
}

func v1Spec(r Resources) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if r.MemoryMax > 0 || r.MemoryHigh > 0 {
		res.Memory = &specs.LinuxMemory{}
		if r.MemoryMax > 0 {
			res.Memory.Limit = &r.MemoryMax
		}
		if r.MemoryHigh > 0 {
			res.Memory.Reservation = &r.MemoryHigh
		}
	}
	if r.CPUQuota > 0 || r.CPUWeight > 0 {
		res.CPU = &specs.LinuxCPU{}
		if r.CPUQuota > 0 {
			quota, period := int64(r.CPUQuota)*1000, uint64(100000)
			res.CPU.Quota, res.CPU.Period = &quota, &period
		}
		if r.CPUWeight > 0 {
			shares := cpuShares(r.CPUWeight)
			res.CPU.Shares = &shares
		}
	}
	if r.TasksMax > 0 {
		res.Pids = &specs.LinuxPids{Limit: &r.TasksMax}
	}
	if r.Devices != nil {
		res.Devices = deviceRules(r.Devices)
	}
	return res
}

// dir returns the group's directory in controller c's hierarchy, or "".
func (g *v1Group) dir(c cgroup1.Name) string {
	want := filepath.Join(g.root, string(c), g.rel)
	for _, d := range g.dirs {
		if d == want {
			return d
		}
	}
	return ""
}

func (g *v1Group) Path() string { return g.rel }

func (g *v1Group) Add(pid int) error {
	if err := g.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("cgroups: add pid %d to %s: %w", pid, g.rel, err)
	}
	return nil
}

// Procs lists the group's processes from the first hierarchy it is in
// (memory when mounted); every hierarchy holds the same ones.
func (g *v1Group) Procs() ([]int, error) {
	if len(g.dirs) == 0 {
		return nil, nil
	}
	pids, err := readProcs(g.dirs[0])
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return pids, nil
}

// Kill freezes the group (when the freezer is mounted), signals every
// process, thaws, and repeats until the group is empty.
func (g *v1Group) Kill() error {
	var freeze, thaw func() error
	if g.dir(cgroup1.Freezer) != "" {
		freeze, thaw = g.cg.Freeze, g.cg.Thaw
	}
	if err := killLoop(g.Procs, freeze, thaw); err != nil {
		return fmt.Errorf("cgroups: kill %s: %w", g.rel, err)
	}
	return nil
}

// Freeze sets freezer.state to FROZEN and waits until it is.
func (g *v1Group) Freeze() error {
	if g.dir(cgroup1.Freezer) == "" {
		return ErrNoFreezer
	}
	if err := g.cg.Freeze(); err != nil {
		return fmt.Errorf("cgroups: freeze %s: %w", g.rel, err)
	}
	return nil
}

func (g *v1Group) Thaw() error {
	if g.dir(cgroup1.Freezer) == "" {
		return ErrNoFreezer
	}
	if err := g.cg.Thaw(); err != nil {
		return fmt.Errorf("cgroups: thaw %s: %w", g.rel, err)
	}
	return nil
}

// OOMKilled reads oom_kill from memory.oom_control (Linux 4.13+).
func (g *v1Group) OOMKilled() (bool, error) {
	d := g.dir(cgroup1.Memory)
	if d == "" {
		return false, nil
	}
	n, ok, err := readKey(filepath.Join(d, "memory.oom_control"), "oom_kill")
	if err != nil {
		return false, fmt.Errorf("cgroups: %w", err)
	}
	if !ok {
		return false, errors.New("cgroups: memory.oom_control has no oom_kill counter (kernel older than 4.13)")
	}
	return n > 0, nil
}

func (g *v1Group) Delete() error {
	if err := g.cg.Delete(); err != nil && !errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return fmt.Errorf("cgroups: delete %s: %w", g.rel, err)
	}
	return nil
}
