package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/sandbox"
)

// DeviceSpec is one AddDevice=[-]HOST[:CONTAINER][:PERMISSIONS].
type DeviceSpec struct {
	Host, Container string // Container defaults to Host
	Access          string // a subset of "rwm"; default "rwm"
	Optional        bool   // leading "-": skipped when Host does not exist
}

// ParseDevice reads an AddDevice= value as Podman does: HOST, HOST:CONTAINER,
// HOST:PERMISSIONS or HOST:CONTAINER:PERMISSIONS, a leading "-" making the
// device optional.
func ParseDevice(v string) (DeviceSpec, error) {
	var d DeviceSpec
	v, d.Optional = strings.CutPrefix(v, "-")
	parts := strings.Split(v, ":")
	d.Host, d.Access = parts[0], "rwm"
	switch len(parts) {
	case 1:
	case 2:
		if validAccess(parts[1]) {
			d.Access = parts[1]
		} else {
			d.Container = parts[1]
		}
	case 3:
		d.Container, d.Access = parts[1], parts[2]
		if !validAccess(d.Access) {
			return d, fmt.Errorf("%q: permissions %q are not a combination of r, w and m", v, d.Access)
		}
	default:
		return d, fmt.Errorf("%q: want HOST[:CONTAINER][:PERMISSIONS]", v)
	}
	if d.Container == "" {
		d.Container = d.Host
	}
	if !filepath.IsAbs(d.Host) {
		return d, fmt.Errorf("%q: the host device %q is not an absolute path", v, d.Host)
	}
	if c := filepath.Clean(d.Container); c != d.Container || !strings.HasPrefix(c, "/dev/") {
		return d, fmt.Errorf("%q: the container path %q must be a clean path below /dev (the rest of the container is mounted nodev)", v, d.Container)
	}
	return d, nil
}

func validAccess(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("rwm", c) || strings.Count(s, string(c)) > 1 {
			return false
		}
	}
	return true
}

// resolveDevices looks the unit's added devices up on this host: the nodes
// the sandbox makes, and the cgroup allow-list (Docker's default plus
// them). A missing optional device is left out.
func resolveDevices(specs []DeviceSpec) ([]sandbox.Device, []cgroups.Device, error) {
	allow := append([]cgroups.Device(nil), cgroups.DefaultDevices...)
	var devs []sandbox.Device
	for _, d := range specs {
		var st unix.Stat_t
		if err := unix.Stat(d.Host, &st); err != nil {
			if d.Optional && errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, nil, fmt.Errorf("AddDevice=%s: %w (prefix it with - to skip a device this node lacks)", d.Host, err)
		}
		sd := sandbox.Device{Source: d.Host, Target: d.Container, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Mode: st.Mode & 0o777}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			sd.Type = 'c'
		case unix.S_IFBLK:
			sd.Type = 'b'
		default:
			return nil, nil, fmt.Errorf("AddDevice=%s: not a device node (name each device; directories are not supported)", d.Host)
		}
		devs = append(devs, sd)
		allow = append(allow, cgroups.Device{Type: sd.Type, Major: int64(sd.Major), Minor: int64(sd.Minor), Access: d.Access})
	}
	return devs, allow, nil
}

// openForUserNS lets a UserNS=auto container's root (host uid and gid
// sandbox.HostIDBase) reach its root directory: each directory from the
// unit's own up to / that others cannot search gets group
// sandbox.HostIDBase and g+x (search only: no listing). No host user is in
// that group, so fleetd's data directory stays closed to them. The root
// directory itself (its copy in the unit's upper layer) becomes the mapped
// root's, so that the sandbox can make /proc, /dev, /sys and volume
// targets in it; the image's other files keep host root as owner and show
// as nobody inside.
func openForUserNS(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("UserNS=auto: %w", err)
	}
	if st.Uid == 0 {
		if err := os.Chown(dir, sandbox.HostIDBase, sandbox.HostIDBase); err != nil {
			return fmt.Errorf("UserNS=auto: give the root directory to the mapped root: %w", err)
		}
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("UserNS=auto: %w", err)
		}
		searchable := st.Mode&0o001 != 0 || st.Gid == sandbox.HostIDBase && st.Mode&0o010 != 0
		ours := st.Uid == 0 && (st.Gid == 0 && st.Mode&0o070 == 0 || st.Gid == sandbox.HostIDBase)
		switch {
		case searchable:
		case ours:
			if err := os.Chown(d, -1, sandbox.HostIDBase); err != nil {
				return fmt.Errorf("UserNS=auto: let the mapped root search %s: %w", d, err)
			}
			if err := os.Chmod(d, os.FileMode(st.Mode&0o777|0o010)); err != nil {
				return fmt.Errorf("UserNS=auto: let the mapped root search %s: %w", d, err)
			}
		default:
			return fmt.Errorf("UserNS=auto: the container's root %s is below %s, which host uid %d cannot search (mode %#o, group %d): give others search permission (o+x) on it", dir, d, sandbox.HostIDBase, st.Mode&0o777, st.Gid)
		}
		if d == "/" {
			return nil
		}
	}
}

// checkUserNSInit fails when the container init at path cannot be executed
// by a UserNS=auto container's mapped root, which execs it after joining
// its user namespace: every directory above it must be searchable by
// others (or by group sandbox.HostIDBase).
func checkUserNSInit(path string) error {
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return fmt.Errorf("UserNS=auto: container init %s: %w", path, err)
		}
		if st.Mode&0o001 == 0 && !(st.Gid == sandbox.HostIDBase && st.Mode&0o010 != 0) {
			return fmt.Errorf("UserNS=auto: the container init %s is below %s, which host uid %d cannot search (mode %#o): install it in a directory others can search", path, d, sandbox.HostIDBase, st.Mode&0o777)
		}
		if d == "/" {
			return nil
		}
	}
}
