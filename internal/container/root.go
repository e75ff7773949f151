package container

import (
	"cmp"
	"context"
	"fmt"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// Root is a unit's prepared container root for a service manager other
// than the native supervisor (systemd's RootDirectory=): the mounted
// overlay and what the sandbox would have run in it, merged from the image
// config and the unit's [Container] keys exactly as Prepare merges them.
type Root struct {
	Dir          string // the mounted overlay root (Config.Dir/units/<unit>/rootfs)
	Args, Env    []string
	Cwd          string
	UID, GID     uint32
	Groups       []uint32
	Mounts       []sandbox.Mount  // bind mounts; named volumes resolved to their directories
	Tmpfs        []sandbox.Tmpfs  // writable tmpfs mounts (ReadOnlyTmpfs=, VolatileTmp=)
	Devices      []sandbox.Device // AddDevice=, resolved on this host (beyond the default set)
	DeviceAllow  []cgroups.Device // the device allow-list: cgroups.DefaultDevices and Devices
	Capabilities []string         // nil = sandbox.DefaultCapabilities; names as given, with or without CAP_
	ReadOnly     bool
	Network      string           // bridge, host or none (the default bridge made explicit)
	Hostname     string           // HostName=, "" when unset
	Seccomp      *seccomp.Profile // SeccompProfile=: Docker's default unless the unit names one (or Unconfined)
	StopSignal   string           // StopSignal=, "" when unset
}

// PrepareRoot pulls the unit's image if needed and mounts its overlay root
// as Prepare does (the upper directory is kept across prepares), but makes
// no cgroup, network or sandbox: the caller's service manager runs the
// process. ReleaseRoot unmounts it; Destroy removes the unit's writes.
func (r *Runtime) PrepareRoot(ctx context.Context, unit string, s *Spec) (*Root, error) {
	img, err := r.image(ctx, s.Image)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.images[unit] = img.Ref
	r.mu.Unlock()
	dir, err := r.mountRoot(unit, img)
	if err != nil {
		return nil, err
	}
	mounts, anon, err := r.volumeMounts(unit, s)
	if err == nil && len(anon) > 0 {
		removeAll(anon)
		err = fmt.Errorf("%w: container %s: anonymous volumes (Volume=/path) need the native unit manager", ErrPermanent, unit)
	}
	if err != nil {
		if uerr := unmountRoot(dir); uerr != nil {
			r.cfg.Logf("container %s: %v", unit, uerr)
		}
		return nil, err
	}
	fileEnv, err := readEnvFiles(s)
	if err != nil {
		if uerr := unmountRoot(dir); uerr != nil {
			r.cfg.Logf("container %s: %v", unit, uerr)
		}
		return nil, fmt.Errorf("container %s: %w", unit, err)
	}
	ss, allow, err := sandboxSpec(s, img, dir, mounts, fileEnv)
	if err != nil {
		if uerr := unmountRoot(dir); uerr != nil {
			r.cfg.Logf("container %s: %v", unit, uerr)
		}
		return nil, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	network := s.Network
	if network == "" {
		network = NetworkBridge
	}
	return &Root{Dir: dir, Args: ss.Args, Env: ss.Env, Cwd: ss.Cwd, UID: ss.UID, GID: ss.GID, Groups: ss.Groups,
		Mounts: ss.Mounts, Tmpfs: ss.Tmpfs, Devices: ss.Devices, DeviceAllow: allow, Capabilities: ss.Capabilities, ReadOnly: ss.ReadOnly,
		Network: network, Hostname: ss.Hostname, StopSignal: s.StopSignal, Seccomp: cmp.Or(s.Seccomp, seccomp.Default())}, nil
}

// ReleaseRoot unmounts the unit's root; its upper directory stays until
// Destroy. Releasing a root that is not mounted is not an error.
func (r *Runtime) ReleaseRoot(unit string) error {
	if err := unmountRoot(r.rootDir(unit)); err != nil {
		return fmt.Errorf("container %s: %w", unit, err)
	}
	return nil
}

func (r *Runtime) rootDir(unit string) string { return r.unitDir(unit) + "/rootfs" }
