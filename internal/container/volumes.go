package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/flotilla-os/flotilla/internal/sandbox"
)

// Volumes as Podman makes them for Quadlet's podman run --rm: a named
// volume (Volume=NAME:/target) is a directory this node keeps for the name
// under Config.Dir/volumes, shared by the units that name it and kept when
// they stop or are destroyed; an anonymous one (Volume=/target) is a fresh
// directory for each start, removed when the container exits. A volume
// made for this start is filled with what the image has at its target
// unless the volume says nocopy.

// volumeMounts turns s.Volumes into the sandbox's bind mounts, making the
// directories of named and anonymous volumes. anon lists the anonymous
// ones, for Run.Exited to remove.
func (r *Runtime) volumeMounts(unit string, s *Spec) (mounts []sandbox.Mount, anon []string, err error) {
	defer func() {
		if err != nil {
			removeAll(anon)
			anon = nil
		}
	}()
	for i, v := range s.Volumes {
		m := mountOf(v)
		switch {
		case v.Source != "":
		case v.Name != "":
			dir := filepath.Join(r.cfg.Dir, "volumes", v.Name)
			created, err := makeVolumeDir(dir)
			if err != nil {
				return nil, anon, fmt.Errorf("container %s: volume %s: %w", unit, v.Name, err)
			}
			m.Source, m.CopyUp = dir, created && !v.NoCopy
		default:
			dir := filepath.Join(r.unitDir(unit), "anon", strconv.Itoa(i))
			if err := os.RemoveAll(dir); err != nil { // left by a crash
				return nil, anon, fmt.Errorf("container %s: volume %s: %w", unit, v.Target, err)
			}
			if _, err := makeVolumeDir(dir); err != nil {
				return nil, anon, fmt.Errorf("container %s: volume %s: %w", unit, v.Target, err)
			}
			anon = append(anon, dir)
			m.Source, m.CopyUp = dir, !v.NoCopy
		}
		if s.UserNS && v.Source == "" {
			// The mapped root fills and uses it, as it owns the root.
			if err := openForUserNS(m.Source); err != nil {
				return nil, anon, fmt.Errorf("container %s: volume %s: %w", unit, v.Target, err)
			}
		}
		mounts = append(mounts, m)
	}
	return mounts, anon, nil
}

// makeVolumeDir makes dir (mode 0755, as Podman's _data) and its parents,
// and reports whether dir is new.
func makeVolumeDir(dir string) (created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return false, err
	}
	err = os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		return true, os.Chmod(dir, 0o755) // past the umask
	case errors.Is(err, os.ErrExist):
		return false, nil
	}
	return false, err
}

func removeAll(dirs []string) {
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// tmpfsMounts are the unit's Tmpfs= mounts and those Podman gives a
// read-only container (--read-only-tmpfs, its default): /tmp and /var/tmp,
// and /run noexec and at most 64 MiB, each skipped where a volume or a
// Tmpfs= is mounted. They are ordered parents first.
func tmpfsMounts(s *Spec) []sandbox.Tmpfs {
	taken := map[string]bool{}
	for _, v := range s.Volumes {
		taken[filepath.Clean(v.Target)] = true
	}
	var out []sandbox.Tmpfs
	for _, t := range s.Tmpfs {
		out = append(out, sandbox.Tmpfs{Target: t.Target, Size: t.Size, Mode: t.Mode, ReadOnly: t.ReadOnly, NoExec: t.NoExec, NoCopy: t.NoCopy})
		taken[t.Target] = true
	}
	add := func(t sandbox.Tmpfs) {
		if !taken[t.Target] {
			out = append(out, t)
		}
	}
	switch {
	case s.ReadOnly && s.ReadOnlyTmpfs:
		add(sandbox.Tmpfs{Target: "/tmp"})
		add(sandbox.Tmpfs{Target: "/var/tmp"})
		add(sandbox.Tmpfs{Target: "/run", Size: "65536k", NoExec: true})
	case s.VolatileTmp && !s.ReadOnly:
		// Quadlet's VolatileTmp=: --tmpfs /tmp:rw,size=512M,mode=1777.
		add(sandbox.Tmpfs{Target: "/tmp", Size: "512m"})
	}
	slices.SortStableFunc(out, func(a, b sandbox.Tmpfs) int {
		return strings.Count(a.Target, "/") - strings.Count(b.Target, "/")
	})
	return out
}
