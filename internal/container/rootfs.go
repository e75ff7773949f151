package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// mountRoot stacks the image's layers under the unit's upper directory with
// overlayfs and returns the merged directory.
func (r *Runtime) mountRoot(unit string, img *image.Image) (string, error) {
	dir := r.unitDir(unit)
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "rootfs")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("container %s: %w", unit, err)
		}
	}
	_ = unmountRoot(merged) // left over from a crash
	opts := "lowerdir=" + img.LowerDir() + ",upperdir=" + upper + ",workdir=" + work
	if len(opts) > unix.Getpagesize()-1 {
		return "", fmt.Errorf("%w: image %s has too many layers for one overlay mount", ErrPermanent, img.Ref)
	}
	// nodev: a device node in the image or written by the container does
	// not open; the sandbox's /dev tmpfs holds the devices.
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_NODEV, opts); err != nil {
		return "", fmt.Errorf("container %s: mount overlay root (is the overlay module loaded?): %w", unit, err)
	}
	return merged, nil
}

func unmountRoot(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", path, err)
}

// sandboxSpec merges the image's config with the unit's [Container] keys,
// and returns the container's device allow-list for its cgroup.
// mounts are the unit's volumes, resolved by Runtime.volumeMounts, and
// fileEnv what its EnvironmentFile= files hold (readEnvFiles).
func sandboxSpec(s *Spec, img *image.Image, rootfs string, mounts []sandbox.Mount, fileEnv []string) (ss sandbox.Spec, allow []cgroups.Device, err error) {
	args := img.Config.Entrypoint
	if s.Entrypoint != nil {
		args = s.Entrypoint
	}
	cmd := img.Config.Cmd
	if s.Exec != nil || s.Entrypoint != nil {
		cmd = s.Exec
	}
	args = append(append([]string(nil), args...), cmd...)
	if len(args) == 0 {
		return ss, nil, fmt.Errorf("image %s has no entrypoint or command: give Exec=", img.Ref)
	}
	ss.Rootfs, ss.Args, ss.ReadOnly = rootfs, args, s.ReadOnly
	// As podman: the image's, then --env-file's, then --env's.
	ss.Env = mergeEnv(mergeEnv(img.Config.Env, fileEnv), s.Env)
	ss.Cwd = firstNonEmpty(s.WorkingDir, img.Config.WorkingDir, "/")
	ss.Hostname = s.HostName
	ss.HostNetwork = s.Network == NetworkHost
	ss.UserNS = s.UserNS
	user := firstNonEmpty(s.User, img.Config.User)
	if s.Group != "" {
		user = strings.SplitN(user, ":", 2)[0] + ":" + s.Group
	}
	if ss.UID, ss.GID, ss.Groups, err = lookupUser(rootfs, user); err != nil {
		return ss, nil, err
	}
	ss.Capabilities = capabilities(s.AddCaps, s.DropCaps)
	ss.Mounts = mounts
	ss.Tmpfs = tmpfsMounts(s)
	if ss.Devices, allow, err = resolveDevices(s.Devices); err != nil {
		return ss, nil, err
	}
	if ss.Seccomp, err = seccompFilter(s.Seccomp, ss.Capabilities); err != nil {
		return ss, nil, err
	}
	return ss, allow, nil
}

// seccompFilter compiles the unit's profile (nil: Docker's default) for
// its capability set (nil: the default set), as Docker does per container.
// Compiled filters are cached, so a restart costs a map lookup.
func seccompFilter(p *seccomp.Profile, caps []string) (*sandbox.SeccompFilter, error) {
	if p == nil {
		p = seccomp.Default()
	}
	if caps == nil {
		caps = sandbox.DefaultCapabilities
	}
	f, err := p.Filter(caps)
	if err != nil || f == nil {
		return nil, err
	}
	return &sandbox.SeccompFilter{Program: f.Program, Flags: f.Flags}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// mergeEnv applies the unit's K=V over the image's.
func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	out := append([]string(nil), base...)
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
