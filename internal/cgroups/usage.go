package cgroups

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Usage is what a group has used, read from its files at one moment.
// Each Has* says whether the host's layout shows that figure for the
// group: on v1 a group joins cpuacct and pids only where they are mounted
// and its limits need them (v1Needed), so CPU time and the pids counter
// are often missing there; tasks are then counted from memory's tasks.
type Usage struct {
	CPU                         time.Duration
	Memory                      uint64 // bytes charged
	Tasks                       uint64 // threads
	HasCPU, HasMemory, HasTasks bool
}

// ReadUsage reads the usage of the group name (such as
// "flotilla/web.service") under root (Root on a real host), in either
// layout: v2 when root/name has cgroup.procs, else the v1 hierarchies.
// A group that exists in neither is os.ErrNotExist. It only reads.
func ReadUsage(root, name string) (Usage, error) {
	if err := checkName(name); err != nil {
		return Usage{}, err
	}
	var u Usage
	dir := filepath.Join(root, name)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
		if v, ok, _ := readKey(filepath.Join(dir, "cpu.stat"), "usage_usec"); ok {
			u.CPU, u.HasCPU = time.Duration(v)*time.Microsecond, true
		}
		u.Memory, u.HasMemory = readUint(filepath.Join(dir, "memory.current"))
		u.Tasks, u.HasTasks = readUint(filepath.Join(dir, "pids.current"))
		if !u.HasTasks {
			u.Tasks, u.HasTasks = countLines(filepath.Join(dir, "cgroup.threads"))
		}
		return u, nil
	}
	mem := filepath.Join(root, "memory", name)
	if _, err := os.Stat(mem); err != nil {
		return Usage{}, os.ErrNotExist
	}
	u.Memory, u.HasMemory = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	for _, h := range []string{"cpuacct", "cpu,cpuacct"} {
		if ns, ok := readUint(filepath.Join(root, h, name, "cpuacct.usage")); ok {
			u.CPU, u.HasCPU = time.Duration(ns), true
			break
		}
	}
	u.Tasks, u.HasTasks = readUint(filepath.Join(root, "pids", name, "pids.current"))
	if !u.HasTasks {
		u.Tasks, u.HasTasks = countLines(filepath.Join(mem, "tasks"))
	}
	return u, nil
}

func readUint(file string) (uint64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

func countLines(file string) (uint64, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	return uint64(bytes.Count(b, []byte{'\n'})), true
}

// Children lists the groups directly below parent (such as "flotilla")
// under root, in the v2 tree and in v1's memory hierarchy, which every
// unit group joins: one directory read each, so that a caller with many
// units reads usage only for those that have a group.
func Children(root, parent string) map[string]bool {
	out := map[string]bool{}
	for _, dir := range []string{filepath.Join(root, parent), filepath.Join(root, "memory", parent)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				out[e.Name()] = true
			}
		}
	}
	return out
}
