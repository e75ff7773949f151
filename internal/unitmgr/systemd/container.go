package systemd

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Containers prepares container roots for systemd to run units in
// (RootDirectory=). *container.Runtime satisfies it.
type Containers interface {
	// PrepareRoot pulls the image if needed, mounts the unit's overlay root
	// and returns what to run in it.
	PrepareRoot(ctx context.Context, unit string, s *container.Spec) (*container.Root, error)
	// ReleaseRoot unmounts the root; the unit's writes stay.
	ReleaseRoot(unit string) error
	// Destroy removes the unit's writes.
	Destroy(unit string) error
}

var _ Containers = (*container.Runtime)(nil)

// PrepareTimeout bounds one container unit's Load: the image pull and the
// root's mount.
const PrepareTimeout = 10 * time.Minute

// ownedKeys are [Service] keys the generated unit sets from [Container];
// a container unit giving them itself is refused rather than merged.
var ownedKeys = map[string]bool{
	"ExecStart": true, "RootDirectory": true, "RootImage": true, "User": true, "Group": true,
	"WorkingDirectory": true, "Environment": true, "EnvironmentFile": true, "SupplementaryGroups": true,
	"CapabilityBoundingSet": true, "AmbientCapabilities": true, "BindPaths": true, "BindReadOnlyPaths": true,
	"PrivateNetwork": true, "MountAPIVFS": true, "DynamicUser": true, "DevicePolicy": true, "DeviceAllow": true,
	// From SeccompProfile= (Docker's default profile when unset).
	"SystemCallFilter": true, "SystemCallErrorNumber": true, "SystemCallArchitectures": true,
	"RestrictNamespaces": true, "RestrictAddressFamilies": true, "LockPersonality": true,
}

// containerUnit parses name's [Container] section, prepares its root and
// returns the unit file systemd gets: f's other sections unchanged, its
// [Service] keys passed through, and the keys that run the container.
func (m *Manager) containerUnit(name string, f *unit.File) (string, error) {
	cs, warnings, err := container.ParseQuadlet(name, f, container.ParseOptions{Specifiers: unit.Specifiers{Name: name, MachineID: m.cfg.MachineID, Hostname: m.cfg.Hostname}})
	if err != nil {
		return "", err
	}
	for _, w := range warnings {
		m.cfg.Logf("systemdmgr: %s: %s", name, w)
	}
	if err := checkContainer(name, f, cs); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), PrepareTimeout)
	defer cancel()
	root, err := m.cfg.Containers.PrepareRoot(ctx, name, cs)
	if err != nil {
		return "", fmt.Errorf("systemdmgr: load %s: %w", name, err)
	}
	text, err := generate(name, f, root)
	if err != nil {
		if rerr := m.cfg.Containers.ReleaseRoot(name); rerr != nil {
			m.cfg.Logf("systemdmgr: load %s: %v", name, rerr)
		}
		return "", err
	}
	return text, nil
}

// checkContainer refuses what the systemd backend cannot run as the native
// one would, before anything is pulled or mounted.
func checkContainer(name string, f *unit.File, cs *container.Spec) error {
	cerr := func(field, msg string) error {
		return &unit.Error{Unit: name, Section: "Container", Field: field, Msg: msg}
	}
	switch {
	case cs.Network == "" || cs.Network == container.NetworkBridge:
		msg := "bridge networking (the default) needs the native unit manager (fleetd --unit-manager native); on the systemd backend use Network=host or Network=none"
		return cerr("Network", msg)
	case len(cs.PublishPorts) > 0:
		return cerr("PublishPort", "PublishPort needs Network=bridge, which needs the native unit manager")
	case cs.UserNS:
		return cerr("UserNS", "UserNS=auto needs the native unit manager: the systemd backend does not map container ids")
	case cs.HostName != "":
		return cerr("HostName", "HostName= needs the native unit manager: the systemd backend cannot give a unit its own hostname")
	}
	for _, v := range cs.Volumes {
		if v.Source == "" && v.Name == "" {
			return cerr("Volume", "an anonymous volume (Volume="+v.Target+") needs the native unit manager, which makes one for each start: name it (NAME:"+v.Target+")")
		}
	}
	for _, o := range f.Section("Service") {
		if ownedKeys[o.Name] {
			return &unit.Error{Unit: name, Section: "Service", Field: o.Name, Msg: "a container unit's " + o.Name + "= comes from its [Container] section (and the image): remove it"}
		}
	}
	return nil
}

// generate writes the unit systemd runs: f without [Container], then in
// [Service] f's own keys and those that run root's process in root.Dir.
func generate(name string, f *unit.File, root *container.Root) (string, error) {
	exe, err := lookPath(root.Dir, root.Args[0], root.Cwd, root.Env)
	if err != nil {
		return "", &unit.Error{Unit: name, Section: "Container", Field: "Exec", Msg: err.Error()}
	}
	var opts []unit.Option
	for _, o := range f.Options {
		if o.Section != "Container" {
			opts = append(opts, o)
		}
	}
	add := func(k, v string) { opts = append(opts, unit.Option{Section: "Service", Name: k, Value: v}) }
	if f.Values("Service", "TimeoutStopSec") == nil && f.Values("Service", "TimeoutSec") == nil {
		// The entrypoint is PID 1 of nothing here, but may ignore SIGTERM
		// all the same: stop as the native backend and Podman do.
		add("TimeoutStopSec", "10")
	}
	if root.StopSignal != "" && f.Values("Service", "KillSignal") == nil {
		add("KillSignal", strconv.Itoa(int(container.StopSignalNumber(root.StopSignal))))
	}
	add("RootDirectory", escapePercent(root.Dir))
	words := []string{quote(exe, true)}
	for _, a := range root.Args[1:] {
		words = append(words, quote(a, true))
	}
	add("ExecStart", strings.Join(words, " "))
	for _, kv := range root.Env {
		add("Environment", quote(kv, false))
	}
	cwd := root.Cwd
	if !strings.HasPrefix(cwd, "/") {
		cwd = "/" + cwd
	}
	add("WorkingDirectory", escapePercent(cwd))
	add("User", strconv.FormatUint(uint64(root.UID), 10))
	add("Group", strconv.FormatUint(uint64(root.GID), 10))
	if len(root.Groups) > 0 {
		gs := make([]string, len(root.Groups))
		for i, g := range root.Groups {
			gs[i] = strconv.FormatUint(uint64(g), 10)
		}
		add("SupplementaryGroups", strings.Join(gs, " "))
	}
	for _, k := range []string{"MountAPIVFS", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectControlGroups", "NoNewPrivileges"} {
		add(k, "yes")
	}
	caps := capNames(root.Capabilities)
	add("CapabilityBoundingSet", strings.Join(caps, " "))
	settings, err := cmp.Or(root.Seccomp, seccomp.Default()).Systemd(caps)
	if err != nil {
		return "", &unit.Error{Unit: name, Section: "Container", Field: "SeccompProfile", Msg: err.Error()}
	}
	for _, st := range settings {
		add(st.Key, st.Value)
	}
	// The native backend's device allow-list; PrivateDevices= alone would
	// also allow nothing else, but says so less plainly.
	add("DevicePolicy", "closed")
	for _, d := range root.DeviceAllow {
		add("DeviceAllow", deviceAllow(d))
	}
	for _, d := range root.Devices {
		add("BindPaths", pathWord(d.Source)+":"+pathWord(d.Target))
	}
	for _, mt := range root.Mounts {
		if mt.ReadOnly { // read-only below the source's submounts too
			add("BindReadOnlyPaths", pathWord(mt.Source)+":"+pathWord(mt.Target)+":rbind")
		} else {
			add("BindPaths", pathWord(mt.Source)+":"+pathWord(mt.Target))
		}
	}
	if root.ReadOnly {
		add("ReadOnlyPaths", "/")
	}
	for _, t := range root.Tmpfs {
		// PrivateTmp= above already gives a writable /tmp and /var/tmp.
		if t.Target == "/tmp" || t.Target == "/var/tmp" {
			continue
		}
		opts := "nosuid,nodev"
		if t.NoExec {
			opts += ",noexec"
		}
		if t.ReadOnly {
			opts += ",ro"
		}
		if t.Size != "" {
			opts += ",size=" + t.Size
		}
		if t.Mode != "" {
			opts += ",mode=" + t.Mode
		}
		add("TemporaryFileSystem", pathWord(t.Target)+":"+opts)
	}
	switch root.Network {
	case container.NetworkNone:
		add("PrivateNetwork", "yes")
	case container.NetworkHost:
	default:
		return "", &unit.Error{Unit: name, Section: "Container", Field: "Network", Msg: "Network=" + root.Network + " is not supported by the systemd backend (use host or none)"}
	}
	return unit.FromOptions(opts).String(), nil
}

// deviceAllow writes d as a DeviceAllow= value: "char-*" for any character
// device, "char-pts" for the pseudo-terminals (major 136), else systemd's
// /dev/char/MAJOR:MINOR form, which it parses without a node. No list we
// make has another wildcard.
func deviceAllow(d cgroups.Device) string {
	kind := "char"
	if d.Type == 'b' {
		kind = "block"
	}
	switch {
	case d.Major == cgroups.AnyDevice:
		return kind + "-* " + d.Access
	case d.Minor == cgroups.AnyDevice && d.Major == 136 && d.Type == 'c':
		return "char-pts " + d.Access
	}
	return fmt.Sprintf("/dev/%s/%d:%d %s", kind, d.Major, d.Minor, d.Access)
}

// capNames lists caps (nil: the sandbox's default set) as CAP_ names in
// the order given, without repeats. An empty list is an empty bounding set.
func capNames(caps []string) []string {
	if caps == nil {
		caps = sandbox.DefaultCapabilities
	}
	out := []string{}
	seen := map[string]bool{}
	for _, c := range caps {
		c = "CAP_" + strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// quote writes s as one double-quoted word of a systemd setting: \ and "
// backslash-escaped, control bytes as \xNN, % as %% (no specifiers), and
// with dollar set $ as $$ (no variable expansion, for ExecStart=). A lone
// ";" (ExecStart='s command separator) is written \; as systemd documents.
func quote(s string, dollar bool) string {
	if dollar && s == ";" {
		return `\;`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '%':
			b.WriteString("%%")
		case c == '$' && dollar:
			b.WriteString("$$")
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pathWord writes one path of BindPaths=: bare when it is plain, else
// quoted; % is always doubled.
func pathWord(p string) string {
	if strings.ContainsAny(p, " \t\"'\\:") || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return quote(p, false)
	}
	return escapePercent(p)
}

func escapePercent(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// lookPath resolves the container's argv[0] as its init would (execvp with
// the container's PATH, sandbox.DefaultPath when unset) but inside rootfs,
// without following links out of it, so that ExecStart= gets the absolute
// path systemd wants.
func lookPath(rootfs, name, cwd string, env []string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return name, nil
	}
	if strings.Contains(name, "/") {
		return path.Join("/", cwd, name), nil
	}
	pathVar := sandbox.DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	rootFD, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open the container root: %w", err)
	}
	defer unix.Close(rootFD)
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join("/", cwdIfRelative(dir, cwd), name)
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		fd, err := unix.Openat2(rootFD, p, &how)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in the image's PATH %s", name, pathVar)
}

func cwdIfRelative(dir, cwd string) string {
	if strings.HasPrefix(dir, "/") {
		return dir
	}
	return path.Join(cwd, dir)
}

// destroyContainer waits for a container unit whose stop is queued to be
// down (up to CloseTimeout, then SIGKILL and 5 s more), then unmounts its
// root and removes its writes. opMu is held.
func (m *Manager) destroyContainer(name string, r *record) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CloseTimeout)
	left, _ := m.waitInactive(ctx, []string{name}, nil)
	cancel()
	if len(left) > 0 {
		kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.conn.KillUnitWithTarget(kctx, name, dbus.All, int32(unix.SIGKILL)); err != nil && !isNoSuchUnit(err) && !isBusError(err, errNoSuchProcess) {
			m.cfg.Logf("systemdmgr: unload %s: kill: %v", name, err)
		}
		left, _ = m.waitInactive(kctx, []string{name}, nil)
		kcancel()
		if len(left) > 0 {
			return fmt.Errorf("still running after SIGKILL: its container root stays")
		}
	}
	if r.mounted {
		if err := m.cfg.Containers.ReleaseRoot(name); err != nil {
			return err
		}
		m.mu.Lock()
		r.mounted = false
		m.mu.Unlock()
	}
	return m.cfg.Containers.Destroy(name)
}

// Validate checks a unit at submit as this backend's Load will: its name,
// its file and its [Container] grammar. The rest of [Service] is systemd's
// to judge, so keys the native manager lacks (PrivateTmp=, ...) pass. What
// only this backend can't run (Network=bridge) is not refused here: the
// unit may be placed on a machine with the native manager. It is pure.
func Validate(name string, f *unit.File) error {
	if _, err := unit.ParseName(name); err != nil {
		return err
	}
	if err := f.Check(name); err != nil {
		return err
	}
	_, _, err := container.ParseQuadlet(name, f, container.ParseOptions{Specifiers: unit.SubmitSpecifiers(name), Submit: true})
	return err
}
