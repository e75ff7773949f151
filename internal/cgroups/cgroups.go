package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	cgroupsv3 "github.com/containerd/cgroups/v3"
)

// Group is one unit's control group.
type Group interface {
	Add(pid int) error
	Procs() ([]int, error)
	// Kill sends SIGKILL to every process in the group and waits (up to
	// KillTimeout) until none is left; it does not reap them.
	Kill() error
	// OOMKilled reports whether the kernel OOM-killed a process of the group.
	OOMKilled() (bool, error)
	// Freeze stops every process of the group at once, forks included
	// (the cgroup freezer), and returns once the group is frozen; Thaw
	// resumes them. Both fail with ErrNoFreezer on a v1 host without the
	// freezer hierarchy.
	Freeze() error
	Thaw() error
	// Delete removes the group; it fails while processes remain.
	Delete() error
	// Path is the cgroup directory (v2) or the path relative to each
	// v1 hierarchy's root.
	Path() string
}

// ErrNoFreezer is Freeze's and Thaw's error where no freezer is mounted.
var ErrNoFreezer = errors.New("cgroups: no freezer hierarchy")

// Root is where the cgroup hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// KillTimeout bounds how long Kill waits for the group to empty.
var KillTimeout = 5 * time.Second

// Mode reports how the host mounts cgroups: "unified" (pure v2), "hybrid"
// (v1 controllers plus a v2 tree) or "legacy" (v1 only).
func Mode() string {
	switch cgroupsv3.Mode() {
	case cgroupsv3.Unified:
		return "unified"
	case cgroupsv3.Hybrid:
		return "hybrid"
	case cgroupsv3.Legacy:
		return "legacy"
	}
	return "unavailable"
}

// New creates (or takes over) the group name, such as
// "flotilla/web.service", with the limits r, in the host's cgroup layout.
func New(name string, r Resources) (Group, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var g Group
	var err error
	switch m := Mode(); m {
	case "unified":
		g, err = newV2(Root, name, r)
	case "hybrid", "legacy":
		g, err = newV1(Root, name, r)
	default:
		err = errors.New("no cgroup hierarchy mounted at " + Root)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroups: create %s: %w", name, err)
	}
	return g, nil
}

func checkName(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == ".." {
		return fmt.Errorf("cgroups: group name %q must be a clean relative path such as flotilla/web.service", name)
	}
	return nil
}

// readProcs reads the pids in cgroup.procs of dir and of every group below it.
func readProcs(dir string) ([]int, error) {
	var pids []int
	b, err := os.ReadFile(dir + "/cgroup.procs")
	if err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s/cgroup.procs: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			sub, err := readProcs(dir + "/" + e.Name())
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			pids = append(pids, sub...)
		}
	}
	return pids, nil
}

// killLoop sends SIGKILL to the group's processes until it is empty,
// calling freeze/thaw (when not nil) around each round so that nothing
// forks in between.
func killLoop(procs func() ([]int, error), freeze, thaw func() error) error {
	deadline := time.Now().Add(KillTimeout)
	for {
		if freeze != nil {
			if err := freeze(); err != nil {
				return fmt.Errorf("freeze: %w", err)
			}
		}
		pids, err := procs()
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL) // ESRCH: already gone
		}
		if thaw != nil {
			if terr := thaw(); terr != nil && err == nil {
				err = fmt.Errorf("thaw: %w", terr)
			}
		}
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes left after SIGKILL for %v: %v", len(pids), KillTimeout, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEmpty waits until procs reports no process.
func waitEmpty(procs func() ([]int, error)) error {
	deadline := time.Now().Add(KillTimeout)
	for {
		pids, err := procs()
		if err != nil || len(pids) == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes left after SIGKILL for %v: %v", len(pids), KillTimeout, pids)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readKey returns the value of key in a flat-keyed file ("key value" lines).
func readKey(file, key string) (uint64, bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s: %s: %w", file, key, err)
			}
			return n, true, nil
		}
	}
	return 0, false, nil
}

// ioWeightV1 maps systemd's 1..10000 to blkio's 10..1000 (100 → 19, 10000 → 1000).
func ioWeightV1(w uint64) uint64 { return 10 + (w-1)*990/9999 }

// cpuShares maps systemd's CPUWeight to v1 cpu.shares (100 → 1024).
func cpuShares(w uint64) uint64 { return min(max(w*1024/100, 2), 262144) }
