package container

import (
	"fmt"
	"os"
	"path/filepath"

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
