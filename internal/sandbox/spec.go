package sandbox

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// Mount is a bind mount (a volume). Target is a path inside the container.
type Mount struct {
	Source, Target string
	ReadOnly       bool
	// CopyUp first copies what the image has at Target into Source (a
	// new volume), as Podman fills a new volume.
	CopyUp bool
}

// Tmpfs is a writable tmpfs mounted at Target (nosuid, nodev), filled with
// what the image has there (runc's tmpcopyup), as Podman mounts on /run,
// /tmp and /var/tmp of a read-only container.
type Tmpfs struct {
	Target   string
	Size     string // tmpfs size= ("65536k", "10%"); "" is the kernel's default (half of RAM)
	Mode     string // octal mode of its root; "" is 1777, or the image directory's when copied
	ReadOnly bool
	NoExec   bool
	NoCopy   bool // not filled from the image
}

// Device is a host device node made in the container's /dev (AddDevice=).
// The caller resolves it on the host and allows its numbers in the
// container's cgroup; nothing else opens there.
type Device struct {
	Source       string // host path, bind-mounted instead of made with a user namespace
	Target       string // path in the container, below /dev
	Type         byte   // 'c' (character) or 'b' (block)
	Major, Minor uint32
	Mode         uint32 // permission bits of the node
}

// Spec describes one container process.
type Spec struct {
	Rootfs       string // prepared directory that becomes /
	ReadOnly     bool   // remount / read-only; volumes, /dev, /proc keep their own mode
	Hostname     string
	Args         []string // argv; Args[0] is looked up in the container's PATH from Env
	Env          []string
	Cwd          string // default "/"
	UID, GID     uint32
	Groups       []uint32
	Tmpfs        []Tmpfs // mounted before Mounts
	Mounts       []Mount
	Devices      []Device // host devices added to the default set in /dev
	HostNetwork  bool     // share the host netns; otherwise a new netns
	UserNS       bool     // map container ids 0..65535 to host 100000..165535
	Capabilities []string // nil = DefaultCapabilities; names with or without "CAP_"
	// Seccomp is installed last before exec (after no_new_privs and the
	// capabilities); nil runs the entrypoint without a filter.
	Seccomp *SeccompFilter
}

// User namespace mapping used with Spec.UserNS: container id i is host id
// HostIDBase+i for 0 <= i < IDRange.
const (
	HostIDBase = 100000
	IDRange    = 65536
)

// DefaultPath is the PATH used to find Args[0] when Env has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is Docker's default set, kept when Spec.Capabilities is nil.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capNumbers maps "CAP_CHOWN" to 0 and so on, for every capability the
// library knows (which may exceed what the running kernel knows).
var capNumbers = func() map[string]int {
	m := map[string]int{}
	for _, c := range capability.List() {
		m["CAP_"+strings.ToUpper(c.String())] = int(c)
	}
	return m
}()

// capMask returns the capability set named by names (nil = the default set).
func capMask(names []string) (uint64, error) {
	if names == nil {
		names = DefaultCapabilities
	}
	var mask uint64
	for _, n := range names {
		key := strings.ToUpper(n)
		if !strings.HasPrefix(key, "CAP_") {
			key = "CAP_" + key
		}
		c, ok := capNumbers[key]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		mask |= 1 << uint(c)
	}
	return mask, nil
}

// validate checks s and names the field at fault.
func (s *Spec) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sandbox: spec %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case s.Rootfs == "" || !filepath.IsAbs(s.Rootfs):
		bad("Rootfs", "%q is not an absolute path", s.Rootfs)
	default:
		if fi, err := os.Stat(s.Rootfs); err != nil {
			bad("Rootfs", "%v", err)
		} else if !fi.IsDir() {
			bad("Rootfs", "%s is not a directory", s.Rootfs)
		}
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		bad("Args", "empty: need at least the program to run")
	}
	if s.Cwd != "" && !filepath.IsAbs(s.Cwd) {
		bad("Cwd", "%q is not an absolute path", s.Cwd)
	}
	if len(s.Hostname) > 64 || strings.ContainsAny(s.Hostname, "/ \t\n\x00") {
		bad("Hostname", "%q is not a valid host name (at most 64 characters, no spaces or slashes)", s.Hostname)
	}
	for i, e := range s.Env {
		if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") {
			bad(fmt.Sprintf("Env[%d]", i), "%q is not NAME=value", e)
		}
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) {
			bad(fmt.Sprintf("Mounts[%d].Source", i), "%q is not an absolute path", m.Source)
		} else if _, err := os.Stat(m.Source); err != nil {
			bad(fmt.Sprintf("Mounts[%d].Source", i), "%v", err)
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			bad(fmt.Sprintf("Mounts[%d].Target", i), "%q is not an absolute path below /", m.Target)
		}
	}
	for i, m := range s.Tmpfs {
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			bad(fmt.Sprintf("Tmpfs[%d].Target", i), "%q is not an absolute path below /", m.Target)
		}
		if strings.ContainsAny(m.Size, ",=") {
			bad(fmt.Sprintf("Tmpfs[%d].Size", i), "%q is not a size", m.Size)
		}
		if _, err := strconv.ParseUint(cmp.Or(m.Mode, "0"), 8, 32); err != nil {
			bad(fmt.Sprintf("Tmpfs[%d].Mode", i), "%q is not an octal mode", m.Mode)
		}
	}
	for i, d := range s.Devices {
		if err := d.validate(); err != nil {
			bad(fmt.Sprintf("Devices[%d]", i), "%v", err)
		}
	}
	if s.UserNS {
		if s.UID >= IDRange || s.GID >= IDRange {
			bad("UID/GID", "%d/%d outside the user namespace's mapped range 0..%d", s.UID, s.GID, IDRange-1)
		}
		for _, g := range s.Groups {
			if g >= IDRange {
				bad("Groups", "%d outside the user namespace's mapped range 0..%d", g, IDRange-1)
			}
		}
	}
	if _, err := capMask(s.Capabilities); err != nil {
		bad("Capabilities", "%v", err)
	}
	if s.Seccomp != nil {
		if err := s.Seccomp.check(); err != nil {
			bad("Seccomp", "%v", err)
		}
	}
	return errors.Join(errs...)
}

func (d *Device) validate() error {
	t := filepath.Clean(d.Target)
	switch {
	case !strings.HasPrefix(t, "/dev/") || t != d.Target:
		return fmt.Errorf("target %q is not a clean path below /dev", d.Target)
	case d.Type != 'c' && d.Type != 'b':
		return fmt.Errorf("%s: type %q is neither c nor b", d.Target, d.Type)
	case !filepath.IsAbs(d.Source):
		return fmt.Errorf("%s: source %q is not an absolute host path", d.Target, d.Source)
	case t == "/dev/pts" || strings.HasPrefix(t, "/dev/pts/") || t == "/dev/shm" || strings.HasPrefix(t, "/dev/shm/"):
		return fmt.Errorf("target %s is inside a file system of its own (/dev/pts, /dev/shm)", d.Target)
	}
	return nil
}
