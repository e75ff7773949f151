package container

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/sandbox"
)

// resolvConfPath is where a container's resolver configuration goes.
const resolvConfPath = "/etc/resolv.conf"

// resolvFile makes the unit's resolv.conf (empty until Started knows the
// gateway) for a bind mount: it must exist before the sandbox mounts it,
// and is rewritten in place so the mount sees the new text.
func (r *Runtime) resolvFile(unit string) (string, error) {
	p := filepath.Join(r.unitDir(unit), "resolv.conf")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", fmt.Errorf("container %s: resolv.conf: %w", unit, err)
	}
	return p, f.Close()
}

// makeResolvTarget makes an empty /etc/resolv.conf in the container's
// root when the image has none, from the host side: a user-namespaced
// container cannot create it in an /etc its root does not own. /etc is
// resolved inside the root (an image's symlinks cannot lead out of it);
// whatever is there already (a file, a symlink) is left to the sandbox.
func makeResolvTarget(rootfs string) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := unix.Mkdirat(root, "etc", 0o755); err != nil && err != unix.EEXIST {
		return fmt.Errorf("make /etc: %w", err)
	}
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	etc, err := unix.Openat2(root, "etc", &how)
	if err != nil {
		return fmt.Errorf("open /etc: %w", err)
	}
	defer unix.Close(etc)
	fd, err := unix.Openat(etc, "resolv.conf", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err == unix.EEXIST {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make /etc/resolv.conf: %w", err)
	}
	return unix.Close(fd)
}

// ResolvConf is the resolv.conf of a container on the bridge: the node's
// DNS at the bridge gateway, the cluster domain searched first, as
// Podman's netavark with aardvark-dns writes it (its gateway, dns.podman).
func ResolvConf(gateway, domain string) string {
	return "# Written by flotilla: fleetd answers " + domain + " names and forwards the rest.\n" +
		"search " + domain + "\n" +
		"nameserver " + gateway + "\n"
}

// writeResolvConf fills the file in place (no rename: the bind mount
// holds the inode).
func writeResolvConf(path, gateway, domain string) error {
	if err := os.WriteFile(path, []byte(ResolvConf(gateway, domain)), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

// hasMount reports whether the unit mounts something of its own at target.
func hasMount(mounts []sandbox.Mount, target string) bool {
	for _, m := range mounts {
		if filepath.Clean(m.Target) == target {
			return true
		}
	}
	return false
}
