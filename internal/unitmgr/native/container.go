package native

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// containerStopTimeout is TimeoutStopSec's default for container units.
const containerStopTimeout = 10 * time.Second

// containerKeys is the one table of [Container] keys (Podman Quadlet's
// names) the native manager implements.
var containerKeys = map[string]func(cs *container.Spec, v string, ex *expander) error{
	"Image": func(cs *container.Spec, v string, _ *expander) error {
		if v == "" {
			return errors.New("Image= is empty: name an image such as docker.io/library/redis:7 or docker-archive:/path.tar")
		}
		cs.Image = v
		return nil
	},
	"Exec":        wordsKey(func(cs *container.Spec) *[]string { return &cs.Exec }),
	"Entrypoint":  wordsKey(func(cs *container.Spec) *[]string { return &cs.Entrypoint }),
	"Environment": func(cs *container.Spec, v string, ex *expander) error { return appendEnv(&cs.Env, v, ex) },
	"Volume":      setVolume,
	"PublishPort": func(cs *container.Spec, v string, _ *expander) error {
		// Checked here so that submit refuses what the node would.
		if _, err := netbridge.ParsePublishPort(v); err != nil {
			return err
		}
		cs.PublishPorts = append(cs.PublishPorts, v)
		return nil
	},
	"Network":    setNetwork,
	"User":       func(cs *container.Spec, v string, _ *expander) error { cs.User = v; return nil },
	"Group":      func(cs *container.Spec, v string, _ *expander) error { cs.Group = v; return nil },
	"ReadOnly":   func(cs *container.Spec, v string, _ *expander) error { return parseBoolInto(&cs.ReadOnly, v) },
	"WorkingDir": func(cs *container.Spec, v string, _ *expander) error { cs.WorkingDir = v; return nil },
	"HostName":   func(cs *container.Spec, v string, _ *expander) error { cs.HostName = v; return nil },
	"UserNS":     setUserNS,
	"AddDevice": func(cs *container.Spec, v string, _ *expander) error {
		d, err := container.ParseDevice(v)
		if err != nil {
			return err
		}
		cs.Devices = append(cs.Devices, d)
		return nil
	},
	"AddCapability":  wordsAppendKey(func(cs *container.Spec) *[]string { return &cs.AddCaps }),
	"DropCapability": wordsAppendKey(func(cs *container.Spec) *[]string { return &cs.DropCaps }),
	"SeccompProfile": setSeccompProfile,
	"NoNewPrivileges": func(_ *container.Spec, v string, _ *expander) error {
		var b bool
		if err := parseBoolInto(&b, v); err != nil {
			return err
		}
		if !b {
			return errors.New("NoNewPrivileges=false is not supported: containers always run with no_new_privs")
		}
		return nil
	},
}

// quadletUnsupported are Quadlet keys we know and do not implement: they
// warn (in the unit's log) instead of failing the unit.
var quadletUnsupported = map[string]bool{
	"AddHost": true, "Annotation": true, "AutoUpdate": true, "CgroupsMode": true,
	"ContainerName": true, "ContainersConfModule": true, "DNS": true, "DNSOption": true, "DNSSearch": true,
	"EnvironmentFile": true, "EnvironmentHost": true, "ExposeHostPort": true, "GIDMap": true, "GlobalArgs": true,
	"GroupAdd": true, "HealthCmd": true, "HealthInterval": true, "HealthOnFailure": true, "HealthRetries": true,
	"HealthStartPeriod": true, "HealthTimeout": true, "IP": true, "IP6": true, "Label": true, "LogDriver": true,
	"LogOpt": true, "Mask": true, "Mount": true, "NetworkAlias": true, "Notify": true, "PidsLimit": true,
	"Pod": true, "PodmanArgs": true, "Pull": true, "ReadOnlyTmpfs": true, "ReloadCmd": true, "ReloadSignal": true,
	"Retry": true, "RetryDelay": true, "Rootfs": true, "RunInit": true, "Secret": true,
	"SecurityLabelDisable": true, "SecurityLabelFileType": true, "SecurityLabelLevel": true,
	"SecurityLabelNested": true, "SecurityLabelType": true, "ShmSize": true, "StartWithPod": true,
	"StopSignal": true, "StopTimeout": true, "SubGIDMap": true, "SubUIDMap": true, "Sysctl": true,
	"Timezone": true, "Tmpfs": true, "UIDMap": true, "Ulimit": true, "Unmask": true, "Memory": true,
}

// resourceKeys are systemd's [Service] resource keys, applied to container
// units through cgroups.
var resourceKeys = map[string]bool{
	"MemoryMax": true, "MemoryHigh": true, "CPUQuota": true, "CPUWeight": true, "TasksMax": true, "IOWeight": true,
}

// parseContainer reads [Container] (if any) and the [Service] resource
// keys into sp.container; warnings name Quadlet keys we ignore.
func parseContainer(name string, f *unit.File, ex *expander, sp *spec) (warnings []string, err error) {
	opts := f.Section("Container")
	res := map[string]string{}
	for _, o := range f.Section("Service") {
		if resourceKeys[o.Name] {
			res[o.Name] = o.Value
		}
	}
	if len(opts) == 0 {
		if len(res) > 0 {
			for k := range res {
				return nil, &unit.Error{Unit: name, Section: "Service", Field: k, Msg: "resource limits apply to container units only (add a [Container] section)"}
			}
		}
		return nil, nil
	}
	cs := &container.Spec{}
	for _, o := range opts {
		fn, ok := containerKeys[o.Name]
		if !ok {
			if quadletUnsupported[o.Name] {
				warnings = append(warnings, fmt.Sprintf("[Container] %s= is a Quadlet key Flotilla does not support; ignored", o.Name))
				continue
			}
			return nil, &unit.Error{Unit: name, Section: "Container", Field: o.Name, Msg: "unknown key (supported: Image, Exec, Entrypoint, Environment, Volume, PublishPort, Network, User, Group, ReadOnly, WorkingDir, HostName, UserNS, AddCapability, DropCapability, AddDevice, NoNewPrivileges, SeccompProfile)"}
		}
		if err := fn(cs, o.Value, ex); err != nil {
			return nil, &unit.Error{Unit: name, Section: "Container", Field: o.Name, Msg: err.Error()}
		}
	}
	if cs.Image == "" {
		return nil, &unit.Error{Unit: name, Section: "Container", Field: "Image", Msg: "a container unit needs Image="}
	}
	r, err := cgroups.ParseResources(func(k string) (string, bool) { v, ok := res[k]; return v, ok })
	if err != nil {
		return nil, &unit.Error{Unit: name, Section: "Service", Msg: err.Error()}
	}
	cs.Resources = r
	sp.container = cs
	return warnings, nil
}

func wordsKey(field func(*container.Spec) *[]string) func(*container.Spec, string, *expander) error {
	return func(cs *container.Spec, v string, ex *expander) error {
		ws, err := splitWords(v, ex.spec)
		if err != nil {
			return err
		}
		// The words run inside the container, with its environment: as in
		// the ExecStart= Quadlet writes, "$$" is a literal "$".
		for i := range ws {
			ws[i] = strings.ReplaceAll(ws[i], "$$", "$")
		}
		*field(cs) = ws
		return nil
	}
}

func wordsAppendKey(field func(*container.Spec) *[]string) func(*container.Spec, string, *expander) error {
	return func(cs *container.Spec, v string, ex *expander) error {
		ws, err := splitWords(v, ex.spec)
		if err != nil {
			return err
		}
		*field(cs) = append(*field(cs), ws...)
		return nil
	}
}

func appendEnv(env *[]string, v string, ex *expander) error {
	ws, err := splitWords(v, ex.spec)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if k, _, ok := strings.Cut(w, "="); !ok || k == "" {
			return fmt.Errorf("%q is not NAME=value", w)
		}
		*env = append(*env, w)
	}
	return nil
}

// setVolume reads SOURCE:TARGET[:OPTIONS] with an absolute host SOURCE;
// named volumes are not supported.
func setVolume(cs *container.Spec, v string, _ *expander) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("%q: want /host/path:/container/path[:ro]", v)
	}
	vol := container.Volume{Source: parts[0], Target: parts[1]}
	if !strings.HasPrefix(vol.Source, "/") {
		return fmt.Errorf("%q: the source must be an absolute host path (named volumes are not supported)", v)
	}
	if !strings.HasPrefix(vol.Target, "/") {
		return fmt.Errorf("%q: the target must be an absolute path in the container", v)
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				vol.ReadOnly = true
			case "rw", "z", "Z", "":
			default:
				return fmt.Errorf("%q: unknown volume option %q (ro, rw)", v, o)
			}
		}
	}
	cs.Volumes = append(cs.Volumes, vol)
	return nil
}

func setNetwork(cs *container.Spec, v string, _ *expander) error {
	switch v {
	case container.NetworkBridge, container.NetworkHost, container.NetworkNone:
		cs.Network = v
		return nil
	}
	return fmt.Errorf("Network=%s: want bridge, host or none", v)
}

func setUserNS(cs *container.Spec, v string, _ *expander) error {
	switch v {
	case "auto":
		cs.UserNS = true
	case "host", "":
		cs.UserNS = false
	default:
		return fmt.Errorf("UserNS=%s: want auto or host", v)
	}
	return nil
}

// setSeccompProfile reads SeccompProfile=: a JSON profile in Docker's
// format on this node, loaded and checked now (so a bad file fails the
// unit's load, not each start), or "unconfined" for none. Empty keeps
// Docker's default.
func setSeccompProfile(cs *container.Spec, v string, ex *expander) error {
	switch v {
	case "":
		cs.Seccomp = nil
		return nil
	case seccomp.UnconfinedName:
		cs.Seccomp = seccomp.Unconfined
		return nil
	}
	if ex.submit {
		// The file lives on the node that runs the unit, which reads
		// and checks it at load.
		if !filepath.IsAbs(v) {
			return fmt.Errorf("seccomp profile %q: not an absolute path (give /path/to/profile.json, or %s)", v, seccomp.UnconfinedName)
		}
		return nil
	}
	p, err := seccomp.Load(v)
	if err != nil {
		return err
	}
	cs.Seccomp = p
	return nil
}

func parseBoolInto(b *bool, v string) error {
	val, ok := unit.ParseBool(v)
	if !ok {
		return fmt.Errorf("%q is not a boolean", v)
	}
	*b = val
	return nil
}

// spawnContainer prepares the unit's container and forks its init; the
// container execs its entrypoint once the cgroup and network are in place.
func (a *activation) spawnContainer() (*proc, error) {
	rt := a.u.sup.cfg.Containers
	if rt == nil {
		return nil, errors.New("this unit manager runs no container runtime (fleetd must run as root)")
	}
	run, err := rt.Prepare(context.Background(), a.u.name, a.sp.container)
	if err != nil {
		return nil, err
	}
	l := run.Launch()
	sys := *l.Sys
	sys.Setpgid, sys.Pdeathsig = true, syscall.SIGKILL
	files := []uintptr{a.u.sup.nullFd, a.logfd, a.logfd}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	pid, exit, err := theReaper.spawn(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Sys: &sys, Files: files})
	if err != nil {
		run.Exited()
		return nil, fmt.Errorf("start container: %w", err)
	}
	a.u.mu.Lock()
	a.groups[pid] = true
	a.u.mu.Unlock()
	p := &proc{pid: pid, exit: exit}
	a.run = run
	if err := run.Started(pid); err != nil {
		unix.Kill(-pid, unix.SIGKILL)
		p.ws, p.exited = <-exit, true
		return nil, err
	}
	return p, nil
}

// containerExited cleans up after the container and folds an OOM kill
// into the result.
func (a *activation) containerExited(res result) result {
	if a.run == nil {
		return res
	}
	reason := a.run.Exited()
	a.run = nil
	if reason != "" {
		a.u.event("%s: A process of this unit has been killed by the OOM killer.", a.u.name)
		return result{reason: reason, abnormal: true}
	}
	return res
}

// permanent reports a start failure retrying cannot fix.
func permanent(err error) bool { return errors.Is(err, container.ErrPermanent) }

// ParseContainer parses a unit's [Container] section and its [Service]
// resource keys exactly as the native manager does, for the other backends
// (the systemd one): the container's Spec (nil when the unit has no
// [Container]) and warnings naming Quadlet keys it ignores. Specifiers
// expand with the given machine ID (%m) and hostname (%H).
func ParseContainer(name string, f *unit.File, machineID, hostname string) (*container.Spec, []string, error) {
	sp := &spec{}
	warnings, err := parseContainer(name, f, &expander{name: name, machineID: machineID, hostname: hostname}, sp)
	if err != nil {
		return nil, nil, err
	}
	return sp.container, warnings, nil
}
