package container

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// This file is the [Container] grammar: Podman Quadlet's key names, read
// into a Spec. It reads unit files only; running what it describes is the
// rest of the package's job.

// ParseOptions says how ParseQuadlet reads a unit.
type ParseOptions struct {
	// Specifiers are what %n, %i, %m, %H... expand to in the values.
	Specifiers unit.Specifiers
	// Submit: parsing for validation on whichever node took the request,
	// not on the node that will run the unit, so files the unit names on
	// its own node (SeccompProfile=) are not read.
	Submit bool
}

// containerKeys is the one table of [Container] keys (Podman Quadlet's
// names) every backend implements.
var containerKeys = map[string]func(cs *Spec, v string, o *ParseOptions) error{
	"Image": func(cs *Spec, v string, _ *ParseOptions) error {
		if v == "" {
			return errors.New("Image= is empty: name an image such as docker.io/library/redis:7 or docker-archive:/path.tar")
		}
		cs.Image = v
		return nil
	},
	"Exec":        wordsKey(func(cs *Spec) *[]string { return &cs.Exec }),
	"Entrypoint":  wordsKey(func(cs *Spec) *[]string { return &cs.Entrypoint }),
	"Environment": func(cs *Spec, v string, o *ParseOptions) error { return appendEnv(&cs.Env, v, o) },
	"Volume":      setVolume,
	"PublishPort": func(cs *Spec, v string, _ *ParseOptions) error {
		// Checked here so that submit refuses what the node would.
		if _, err := netbridge.ParsePublishPort(v); err != nil {
			return err
		}
		cs.PublishPorts = append(cs.PublishPorts, v)
		return nil
	},
	"Network":    setNetwork,
	"User":       func(cs *Spec, v string, _ *ParseOptions) error { cs.User = v; return nil },
	"Group":      func(cs *Spec, v string, _ *ParseOptions) error { cs.Group = v; return nil },
	"ReadOnly":   func(cs *Spec, v string, _ *ParseOptions) error { return parseBoolInto(&cs.ReadOnly, v) },
	"WorkingDir": func(cs *Spec, v string, _ *ParseOptions) error { cs.WorkingDir = v; return nil },
	"HostName":   func(cs *Spec, v string, _ *ParseOptions) error { cs.HostName = v; return nil },
	"UserNS":     setUserNS,
	"AddDevice": func(cs *Spec, v string, _ *ParseOptions) error {
		d, err := ParseDevice(v)
		if err != nil {
			return err
		}
		cs.Devices = append(cs.Devices, d)
		return nil
	},
	"AddCapability":  wordsAppendKey(func(cs *Spec) *[]string { return &cs.AddCaps }),
	"DropCapability": wordsAppendKey(func(cs *Spec) *[]string { return &cs.DropCaps }),
	"SeccompProfile": setSeccompProfile,
	"NoNewPrivileges": func(_ *Spec, v string, _ *ParseOptions) error {
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

// ParseQuadlet reads a unit's [Container] section and its [Service]
// resource keys (MemoryMax=, CPUQuota=, ...) into a Spec: nil when the unit
// has no [Container]. Every backend parses container units with it, so a
// unit means the same under each. warnings name the Quadlet keys it knows
// and ignores; errors are *unit.Error naming the section and key.
func ParseQuadlet(name string, f *unit.File, o ParseOptions) (cs *Spec, warnings []string, err error) {
	opts := f.Section("Container")
	res := map[string]string{}
	for _, opt := range f.Section("Service") {
		if resourceKeys[opt.Name] {
			res[opt.Name] = opt.Value
		}
	}
	if len(opts) == 0 {
		if len(res) > 0 {
			for k := range res {
				return nil, nil, &unit.Error{Unit: name, Section: "Service", Field: k, Msg: "resource limits apply to container units only (add a [Container] section)"}
			}
		}
		return nil, nil, nil
	}
	cs = &Spec{}
	for _, opt := range opts {
		fn, ok := containerKeys[opt.Name]
		if !ok {
			if quadletUnsupported[opt.Name] {
				warnings = append(warnings, fmt.Sprintf("[Container] %s= is a Quadlet key Flotilla does not support; ignored", opt.Name))
				continue
			}
			return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: opt.Name, Msg: "unknown key (supported: Image, Exec, Entrypoint, Environment, Volume, PublishPort, Network, User, Group, ReadOnly, WorkingDir, HostName, UserNS, AddCapability, DropCapability, AddDevice, NoNewPrivileges, SeccompProfile)"}
		}
		if err := fn(cs, opt.Value, &o); err != nil {
			return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: opt.Name, Msg: err.Error()}
		}
	}
	if cs.Image == "" {
		return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: "Image", Msg: "a container unit needs Image="}
	}
	r, err := cgroups.ParseResources(func(k string) (string, bool) { v, ok := res[k]; return v, ok })
	if err != nil {
		return nil, nil, &unit.Error{Unit: name, Section: "Service", Msg: err.Error()}
	}
	cs.Resources = r
	return cs, warnings, nil
}

func wordsKey(field func(*Spec) *[]string) func(*Spec, string, *ParseOptions) error {
	return func(cs *Spec, v string, o *ParseOptions) error {
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
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

func wordsAppendKey(field func(*Spec) *[]string) func(*Spec, string, *ParseOptions) error {
	return func(cs *Spec, v string, o *ParseOptions) error {
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
		if err != nil {
			return err
		}
		*field(cs) = append(*field(cs), ws...)
		return nil
	}
}

func appendEnv(env *[]string, v string, o *ParseOptions) error {
	ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
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
func setVolume(cs *Spec, v string, _ *ParseOptions) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("%q: want /host/path:/container/path[:ro]", v)
	}
	vol := Volume{Source: parts[0], Target: parts[1]}
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

func setNetwork(cs *Spec, v string, _ *ParseOptions) error {
	switch v {
	case NetworkBridge, NetworkHost, NetworkNone:
		cs.Network = v
		return nil
	}
	return fmt.Errorf("Network=%s: want bridge, host or none", v)
}

func setUserNS(cs *Spec, v string, _ *ParseOptions) error {
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
func setSeccompProfile(cs *Spec, v string, o *ParseOptions) error {
	switch v {
	case "":
		cs.Seccomp = nil
		return nil
	case seccomp.UnconfinedName:
		cs.Seccomp = seccomp.Unconfined
		return nil
	}
	if o.Submit {
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

// IsResourceKey reports whether a [Service] key is one of the resource
// limits ParseQuadlet reads for a container unit (MemoryMax=, CPUQuota=...).
func IsResourceKey(key string) bool { return resourceKeys[key] }
