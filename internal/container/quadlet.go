package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/health"
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

	// State of one ParseQuadlet.
	warnings  []string
	remap     remap
	userNSSet bool  // a non-empty UserNS=
	memory    int64 // Memory=, bytes
	pids      int64 // PidsLimit=
}

// remap is what a unit's deprecated Remap* keys say.
type remap struct {
	users            string // RemapUsers=
	uids, gids, size bool   // RemapUid=, RemapGid=, RemapUidSize= given
}

func (o *ParseOptions) warn(w string) { o.warnings = append(o.warnings, w) }

// containerKeys is the one table of [Container] keys (Podman Quadlet's
// names) every backend implements. Each value is read as Quadlet reads it
// (see single, multi and the word keys) before the function sees it.
var containerKeys = map[string]func(cs *Spec, v string, o *ParseOptions) error{
	"Image": single(func(cs *Spec, v string, _ *ParseOptions) error {
		if v == "" {
			return errors.New("Image= is empty: name an image such as docker.io/library/redis:7 or docker-archive:/path.tar")
		}
		cs.Image = v
		return nil
	}),
	"Exec":        wordsKey(func(cs *Spec) *[]string { return &cs.Exec }),
	"Entrypoint":  single(setEntrypoint),
	"Environment": appendEnv,
	"Volume":      multi(func(cs *Spec) { cs.Volumes = nil }, setVolume),
	"PublishPort": multi(func(cs *Spec) { cs.PublishPorts = nil }, func(cs *Spec, v string, _ *ParseOptions) error {
		// Checked here so that submit refuses what the node would.
		if _, err := netbridge.ParsePublishPort(v); err != nil {
			return err
		}
		cs.PublishPorts = append(cs.PublishPorts, v)
		return nil
	}),
	"Network":    multi(func(cs *Spec) { cs.Network = "" }, setNetwork),
	"User":       single(func(cs *Spec, v string, _ *ParseOptions) error { cs.User = v; return nil }),
	"Group":      single(func(cs *Spec, v string, _ *ParseOptions) error { cs.Group = v; return nil }),
	"ReadOnly":   boolKey(false, func(cs *Spec) *bool { return &cs.ReadOnly }),
	"WorkingDir": single(func(cs *Spec, v string, _ *ParseOptions) error { cs.WorkingDir = v; return nil }),
	"HostName":   single(func(cs *Spec, v string, _ *ParseOptions) error { cs.HostName = v; return nil }),
	"UserNS":     single(setUserNS),
	// AddDevice= is a word list in Quadlet (LookupAllStrv).
	"AddDevice": func(cs *Spec, v string, o *ParseOptions) error {
		if v == "" {
			cs.Devices = nil
			return nil
		}
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
		if err != nil {
			return err
		}
		for _, w := range ws {
			d, err := ParseDevice(w)
			if err != nil {
				return err
			}
			cs.Devices = append(cs.Devices, d)
		}
		return nil
	},
	"AddCapability":  wordsAppendKey(func(cs *Spec) *[]string { return &cs.AddCaps }),
	"DropCapability": wordsAppendKey(func(cs *Spec) *[]string { return &cs.DropCaps }),
	"SeccompProfile": single(setSeccompProfile),
	"ReadOnlyTmpfs":  boolKey(true, func(cs *Spec) *bool { return &cs.ReadOnlyTmpfs }),
	"VolatileTmp":    boolKey(false, func(cs *Spec) *bool { return &cs.VolatileTmp }),
	"NoNewPrivileges": single(func(cs *Spec, v string, o *ParseOptions) error {
		b := true
		if v != "" {
			if err := parseBoolInto(&b, v); err != nil {
				return err
			}
		}
		if !b {
			// Podman's default is without no_new_privs; ours is with,
			// always: the seccomp filter is loaded after the
			// capabilities are dropped, which needs it.
			o.warn("[Container] NoNewPrivileges=no: Flotilla always runs containers with no_new_privs (setuid programs in the image do not gain privileges)")
		}
		return nil
	}),
	"AppArmor": single(func(_ *Spec, v string, _ *ParseOptions) error {
		// Podman on a host without AppArmor accepts "unconfined" and
		// refuses any profile (setupApparmor); Flotilla confines with
		// no AppArmor profile, so it does the same.
		if v == "" || v == "unconfined" {
			return nil
		}
		return fmt.Errorf("AppArmor profile %q: Flotilla does not apply AppArmor profiles (Podman refuses a profile too where AppArmor is not enabled); remove AppArmor= or set it to unconfined", v)
	}),
	"Memory": single(func(_ *Spec, v string, o *ParseOptions) error {
		if v == "" {
			o.memory = 0
			return nil
		}
		n, err := parseRAM(v)
		o.memory = n
		return err
	}),
	"PidsLimit": single(func(_ *Spec, v string, o *ParseOptions) error {
		if v == "" {
			o.pids = 0
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			return fmt.Errorf("%q is not a number of processes (-1 or 0: no limit)", v)
		}
		o.pids = max(n, 0)
		return nil
	}),
	"Tmpfs": multi(func(cs *Spec) { cs.Tmpfs = nil }, setTmpfs),
	"StopSignal": single(func(cs *Spec, v string, _ *ParseOptions) error {
		if v != "" && StopSignalNumber(v) == 0 {
			return fmt.Errorf("%q is not a signal (SIGQUIT, QUIT or 3)", v)
		}
		cs.StopSignal = v
		return nil
	}),
	"EnvironmentFile": func(cs *Spec, v string, o *ParseOptions) error {
		if v == "" {
			cs.EnvFiles = nil
			return nil
		}
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
		if err != nil {
			return err
		}
		for _, w := range ws {
			if !filepath.IsAbs(w) {
				return fmt.Errorf("%q: a relative path is resolved against the unit file's directory, which fleetctl submit does; give an absolute path when submitting otherwise", w)
			}
			cs.EnvFiles = append(cs.EnvFiles, w)
		}
		return nil
	},
	"PodmanArgs": func(_ *Spec, v string, o *ParseOptions) error {
		if v == "" {
			return nil
		}
		if err := checkPodmanArgs(v, o); err != nil {
			return err
		}
		o.warn("[Container] PodmanArgs= is a Quadlet key Flotilla does not support; ignored")
		return nil
	},
	// Quadlet's deprecated spellings of UserNS=, applied by remapUsers.
	"HealthCmd":      single(healthKey("HealthCmd", func(h *health.Config, v string) (err error) { h.Cmd, err = health.ParseCmd(v); return err })),
	"HealthInterval": single(healthKey("HealthInterval", func(h *health.Config, v string) (err error) { h.Interval, err = health.ParseInterval(v); return err })),
	"HealthTimeout":  single(healthKey("HealthTimeout", func(h *health.Config, v string) (err error) { h.Timeout, err = health.ParseTimeout(v); return err })),
	"HealthRetries":  single(healthKey("HealthRetries", func(h *health.Config, v string) (err error) { h.Retries, err = health.ParseRetries(v); return err })),
	"HealthStartPeriod": single(healthKey("HealthStartPeriod", func(h *health.Config, v string) (err error) {
		h.StartPeriod, err = health.ParseStartPeriod(v)
		return err
	})),
	"HealthOnFailure": single(healthKey("HealthOnFailure", func(h *health.Config, v string) (err error) { h.OnFailure, err = health.ParseOnFailure(v); return err })),
	"Notify":          single(setNotify),
	"RemapUsers":      single(func(_ *Spec, v string, o *ParseOptions) error { o.remap.users = v; return nil }),
	"RemapUid":        func(_ *Spec, v string, o *ParseOptions) error { o.remap.uids = v != ""; return nil },
	"RemapGid":        func(_ *Spec, v string, o *ParseOptions) error { o.remap.gids = v != ""; return nil },
	"RemapUidSize":    single(func(_ *Spec, v string, o *ParseOptions) error { o.remap.size = v != ""; return nil }),
}

// quadletUnsupported are Quadlet keys we know and do not implement: they
// warn (in the unit's log) instead of failing the unit. None of them, left
// out, gives a container more than Podman would: the keys whose absence
// would (an explicit id mapping, Mask=) are in quadletRefused.
var quadletUnsupported = map[string]bool{
	"AddHost": true, "Annotation": true, "AutoUpdate": true, "CgroupsMode": true,
	"ContainerName": true, "ContainersConfModule": true, "DNS": true, "DNSOption": true, "DNSSearch": true,
	"EnvironmentHost": true, "ExposeHostPort": true, "GlobalArgs": true,
	"GroupAdd": true, "HealthStartupCmd": true, "HealthStartupInterval": true,
	"HealthStartupRetries": true, "HealthStartupSuccess": true, "HealthStartupTimeout": true,
	"HealthLogDestination": true, "HealthMaxLogCount": true, "HealthMaxLogSize": true,
	"HttpProxy": true, "IP": true, "IP6": true, "Label": true, "LogDriver": true,
	"LogOpt": true, "Mount": true, "NetworkAlias": true,
	"Pod": true, "Pull": true, "ReloadCmd": true, "ReloadSignal": true,
	"Retry": true, "RetryDelay": true, "RunInit": true, "Secret": true, "ServiceName": true,
	"SecurityLabelDisable": true, "SecurityLabelFileType": true, "SecurityLabelLevel": true,
	"SecurityLabelNested": true, "SecurityLabelType": true, "ShmSize": true, "StartWithPod": true,
	"StopTimeout": true, "Sysctl": true,
	"Timezone": true, "Ulimit": true, "Unmask": true,
}

// quadletRefused are Quadlet keys we know and cannot honour where running
// the unit without them would confine it less than its author asked: the
// unit is refused, naming why.
var quadletRefused = map[string]string{
	"UIDMap":    "explicit user-namespace id maps are not supported (only UserNS=auto's fixed range); without it the container would run as host root",
	"GIDMap":    "explicit user-namespace id maps are not supported (only UserNS=auto's fixed range); without it the container would run as host root",
	"SubUIDMap": "user-namespace maps from /etc/subuid are not supported (only UserNS=auto's fixed range); without it the container would run as host root",
	"SubGIDMap": "user-namespace maps from /etc/subgid are not supported (only UserNS=auto's fixed range); without it the container would run as host root",
	"Mask":      "masking extra paths is not supported; without it the paths would be visible in the container",
	"Rootfs":    "running a container from a host directory is not supported: use Image=",
}

// resourceKeys are systemd's [Service] resource keys, applied to container
// units through cgroups.
var resourceKeys = map[string]bool{
	"MemoryMax": true, "MemoryHigh": true, "CPUQuota": true, "CPUWeight": true, "TasksMax": true, "IOWeight": true,
}

// supportedKeys names the implemented keys in an unknown key's error.
const supportedKeys = "Image, Exec, Entrypoint, Environment, EnvironmentFile, Volume, Tmpfs, PublishPort, Network, User, Group, ReadOnly, ReadOnlyTmpfs, VolatileTmp, WorkingDir, HostName, UserNS, AddCapability, DropCapability, AddDevice, NoNewPrivileges, SeccompProfile, AppArmor, Memory, PidsLimit, StopSignal, RemapUsers, HealthCmd, HealthInterval, HealthTimeout, HealthRetries, HealthStartPeriod, HealthOnFailure, Notify"

// ParseQuadlet reads a unit's [Container] section and its [Service]
// resource keys (MemoryMax=, CPUQuota=, ...) into a Spec: nil when the unit
// has no [Container]. Every backend parses container units with it, so a
// unit means the same under each. warnings name the Quadlet keys it knows
// and ignores; errors are *unit.Error naming the section and key.
//
// Values are read as Quadlet reads them, then expanded as systemd expands
// the podman command line Quadlet writes: a single-valued key (Image=,
// User=, ...) takes its last value with one pair of surrounding double
// quotes removed; in a list key (Volume=, PublishPort=, Environment=, ...)
// an empty value empties the list; specifiers (o.Specifiers) are expanded
// in every value.
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
	cs = &Spec{ReadOnlyTmpfs: true} // Podman's --read-only-tmpfs defaults to true
	o.warnings, o.remap, o.userNSSet, o.memory, o.pids = nil, remap{}, false, 0, 0
	for _, opt := range opts {
		fn, ok := containerKeys[opt.Name]
		if !ok {
			if quadletUnsupported[opt.Name] {
				o.warn(fmt.Sprintf("[Container] %s= is a Quadlet key Flotilla does not support; ignored", opt.Name))
				continue
			}
			if why, ok := quadletRefused[opt.Name]; ok {
				return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: opt.Name, Msg: "a Quadlet key Flotilla cannot honour: " + why}
			}
			return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: opt.Name, Msg: "unknown key (supported: " + supportedKeys + ")"}
		}
		if err := fn(cs, opt.Value, &o); err != nil {
			return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: opt.Name, Msg: err.Error()}
		}
	}
	if cs.Image == "" {
		return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: "Image", Msg: "a container unit needs Image="}
	}
	if field, err := cs.remapUsers(&o); err != nil {
		return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: field, Msg: err.Error()}
	}
	if cs.Group != "" && cs.User == "" {
		// Quadlet's handleUser refuses the same.
		return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: "Group", Msg: "Group= without User= (Quadlet refuses it too): add User="}
	}
	if field, err := cs.checkHealth(&o); err != nil {
		return nil, nil, &unit.Error{Unit: name, Section: "Container", Field: field, Msg: err.Error()}
	}
	host := serviceEnv(name, f, &o)
	cs.Env = resolveBareEnv(cs.Env, host)
	if len(cs.EnvFiles) > 0 {
		cs.hostEnv = host
	}
	r, err := cgroups.ParseResources(func(k string) (string, bool) { v, ok := res[k]; return v, ok })
	if err != nil {
		return nil, nil, &unit.Error{Unit: name, Section: "Service", Msg: err.Error()}
	}
	// Podman's --memory and --pids-limit limit the container, systemd's
	// keys the service around it: the lower limit holds.
	r.MemoryMax, r.TasksMax = lowerLimit(r.MemoryMax, o.memory), lowerLimit(r.TasksMax, o.pids)
	cs.Resources = r
	return cs, o.warnings, nil
}

// single reads a single-valued key as Quadlet's Lookup does (one pair of
// surrounding double quotes removed) and expands its specifiers.
func single(fn func(cs *Spec, v string, o *ParseOptions) error) func(*Spec, string, *ParseOptions) error {
	return func(cs *Spec, v string, o *ParseOptions) error {
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		v, err := o.Specifiers.Expand(v)
		if err != nil {
			return err
		}
		return fn(cs, v, o)
	}
}

// multi reads one value of a list key as Quadlet's LookupAll does: an
// empty value resets the list, any other adds to it, with its specifiers
// expanded.
func multi(reset func(cs *Spec), add func(cs *Spec, v string, o *ParseOptions) error) func(*Spec, string, *ParseOptions) error {
	return func(cs *Spec, v string, o *ParseOptions) error {
		if v == "" {
			reset(cs)
			return nil
		}
		v, err := o.Specifiers.Expand(v)
		if err != nil {
			return err
		}
		return add(cs, v, o)
	}
}

// setEntrypoint reads Entrypoint= as podman's --entrypoint, which Quadlet
// passes the value to whole: a JSON array of strings is the argv, anything
// else is one word (the program's path, spaces and all), and an empty
// value clears the image's entrypoint (Exec= then runs on its own).
func setEntrypoint(cs *Spec, v string, _ *ParseOptions) error {
	// The value is one word of the ExecStart= Quadlet writes: "$$" is "$".
	v = strings.ReplaceAll(v, "$$", "$")
	if v == "" {
		cs.Entrypoint = []string{}
		return nil
	}
	var argv []string
	if strings.HasPrefix(v, "[") && json.Unmarshal([]byte(v), &argv) == nil {
		switch {
		case len(argv) == 0:
			argv = nil // podman: an empty array keeps the image's entrypoint
		case len(argv) == 1 && argv[0] == "":
			argv = []string{} // podman: [""] clears it
		}
		cs.Entrypoint = argv
		return nil
	}
	cs.Entrypoint = []string{v}
	return nil
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
		if v == "" {
			*field(cs) = nil
			return nil
		}
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
		if err != nil {
			return err
		}
		*field(cs) = append(*field(cs), ws...)
		return nil
	}
}

// appendEnv reads Environment= as Quadlet's LookupAllKeyVal: words of
// NAME=value, or a bare NAME, which podman's --env NAME takes from its own
// environment (resolveBareEnv); an empty value empties the list.
func appendEnv(cs *Spec, v string, o *ParseOptions) error {
	if v == "" {
		cs.Env = nil
		return nil
	}
	ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
	if err != nil {
		// Quadlet's LookupAllKeyVal skips such a line with a warning.
		o.warn(fmt.Sprintf("[Container] Environment=%s: %v; line ignored", v, err))
		return nil
	}
	for _, w := range ws {
		if k, _, _ := strings.Cut(w, "="); k == "" {
			return fmt.Errorf("%q has no variable name (want NAME=value or NAME)", w)
		}
		cs.Env = append(cs.Env, w)
	}
	return nil
}

// serviceEnv is the environment podman would run with under the unit
// Quadlet writes: the unit's [Service] Environment= values (an empty one
// resets them), then PODMAN_SYSTEMD_UNIT, which Quadlet adds.
func serviceEnv(name string, f *unit.File, o *ParseOptions) map[string]string {
	env := map[string]string{}
	for _, v := range f.Values("Service", "Environment") {
		if v == "" {
			clear(env)
			continue
		}
		ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
		if err != nil {
			continue // the [Service] grammar reports it
		}
		for _, w := range ws {
			if k, val, ok := strings.Cut(w, "="); ok && k != "" {
				env[k] = val
			}
		}
	}
	env["PODMAN_SYSTEMD_UNIT"] = name
	return env
}

// resolveBareEnv gives each bare NAME in env its value from host, as
// podman's --env NAME does, and drops it when host has none.
func resolveBareEnv(env []string, host map[string]string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.Contains(kv, "=") {
			v, ok := host[kv]
			if !ok {
				continue
			}
			kv += "=" + v
		}
		out = append(out, kv)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// validVolumeName reports whether podman accepts n as a volume name.
func validVolumeName(n string) bool {
	if n == "" || !isAlnum(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// setVolume reads Volume= as Quadlet and podman's -v: [SOURCE:]TARGET[:OPTIONS].
// SOURCE is an absolute host path (a bind mount), a volume NAME (a
// directory this node keeps for it, Config.Dir/volumes/NAME), or absent (an
// anonymous volume, fresh at each start). A source starting with "." is
// relative to the unit file's directory: fleetctl resolves it at submit
// (ResolveRelativeVolumes), so here it is an error.
func setVolume(cs *Spec, v string, _ *ParseOptions) error {
	parts := strings.SplitN(v, ":", 3)
	var vol Volume
	var options string
	switch len(parts) {
	case 1:
		vol.Target = parts[0]
	default:
		vol.Source, vol.Target = parts[0], parts[1]
		if len(parts) == 3 {
			options = parts[2]
		}
	}
	switch src := vol.Source; {
	case src == "", strings.HasPrefix(src, "/"):
	case strings.HasPrefix(src, "."):
		return fmt.Errorf("%q: a relative source is resolved against the unit file's directory, which fleetctl submit does; give an absolute path when submitting otherwise", v)
	case strings.HasSuffix(src, ".volume"):
		return fmt.Errorf("%q: %s is a Quadlet .volume unit, which Flotilla does not run: name a volume instead (NAME:%s), which the node creates", v, src, vol.Target)
	case validVolumeName(src):
		vol.Name, vol.Source = src, ""
	default:
		return fmt.Errorf("%q: the source must be an absolute host path or a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", v)
	}
	if !strings.HasPrefix(vol.Target, "/") || filepath.Clean(vol.Target) == "/" {
		return fmt.Errorf("%q: the target must be an absolute path below / in the container", v)
	}
	for _, opt := range strings.Split(options, ",") {
		switch opt {
		case "ro":
			vol.ReadOnly = true
		case "rw", "z", "Z", "", "bind", "rbind", "private", "rprivate", "nodev", "copy":
		case "nocopy":
			vol.NoCopy = true
		default:
			return fmt.Errorf("%q: unknown or unsupported volume option %q (ro, rw, z, Z, nocopy)", v, opt)
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
	case "private": // rootful podman's default: a bridge
		cs.Network = NetworkBridge
		return nil
	}
	return fmt.Errorf("Network=%s: want bridge, host or none", v)
}

// errRootless is rootful podman's refusal of the user-namespace modes that
// map the invoking user; Flotilla runs containers as root.
func errRootless(mode string) error {
	return fmt.Errorf("%s is only supported in rootless mode, and Flotilla runs containers as root (rootful Podman refuses it too): remove it, or use UserNS=auto for an unprivileged mapping", mode)
}

func setUserNS(cs *Spec, v string, o *ParseOptions) error {
	mode, opts, _ := strings.Cut(v, ":")
	switch mode {
	case "auto":
		cs.UserNS = true
		if opts != "" {
			o.warn(fmt.Sprintf("[Container] UserNS=%s: the options are ignored; UserNS=auto maps container ids 0-65535 to host ids from 100000", v))
		}
	case "host", "":
		cs.UserNS = false
	case "keep-id", "nomap":
		return errRootless("UserNS=" + mode)
	default:
		return fmt.Errorf("UserNS=%s: want auto or host", v)
	}
	o.userNSSet = v != ""
	return nil
}

// remapUsers applies Quadlet's deprecated RemapUsers= keys as its
// handleUserRemap does, and names the key at fault on error.
func (cs *Spec) remapUsers(o *ParseOptions) (string, error) {
	r := o.remap
	if r == (remap{}) {
		return "", nil
	}
	if o.userNSSet {
		return "RemapUsers", errors.New("deprecated Remap keys are set along with UserNS= (Quadlet refuses it too): keep UserNS=")
	}
	switch r.users {
	case "":
		if r.uids {
			return "RemapUid", errors.New("RemapUid= set without RemapUsers= (Quadlet refuses it too)")
		}
		if r.gids {
			return "RemapGid", errors.New("RemapGid= set without RemapUsers= (Quadlet refuses it too)")
		}
	case "auto":
		cs.UserNS = true
		if r.uids || r.gids || r.size {
			o.warn("[Container] RemapUid=, RemapGid= and RemapUidSize= are ignored: RemapUsers=auto (UserNS=auto) maps container ids 0-65535 to host ids from 100000")
		}
	case "keep-id":
		return "RemapUsers", errRootless("RemapUsers=keep-id")
	case "manual":
		return "RemapUsers", errors.New("RemapUsers=manual (explicit id maps) is not supported; without it the container would run as host root: use UserNS=auto")
	default:
		return "RemapUsers", fmt.Errorf("unsupported RemapUsers option %q (auto; or UserNS=auto)", r.users)
	}
	return "", nil
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

// boolKey reads a boolean key; empty is its default, as Quadlet, which
// passes nothing for an empty value.
func boolKey(def bool, field func(*Spec) *bool) func(*Spec, string, *ParseOptions) error {
	return single(func(cs *Spec, v string, _ *ParseOptions) error {
		if v == "" {
			*field(cs) = def
			return nil
		}
		return parseBoolInto(field(cs), v)
	})
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

// lowerLimit is the lower of two limits where 0 is none.
func lowerLimit(a, b int64) int64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// parseRAM reads podman's --memory: a number with an optional unit b, k,
// m, g, t or p (powers of 1024), as docker's units.RAMInBytes.
func parseRAM(v string) (int64, error) {
	num := strings.TrimRight(strings.TrimSpace(v), "bBiI")
	mult := 1.0
	if i := len(num) - 1; i >= 0 {
		if p := strings.IndexByte("kmgtp", num[i]|0x20); p >= 0 && num[i] >= 'A' {
			for range p + 1 {
				mult *= 1024
			}
			num = strings.TrimSpace(num[:i])
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f <= 0 || f*mult >= 1<<62 || strings.ContainsAny(num, "eExX+-") {
		return 0, fmt.Errorf("%q is not a memory size such as 512m or 1g", v)
	}
	return int64(f * mult), nil
}

// setTmpfs reads Tmpfs= as podman's --tmpfs: PATH[:OPTIONS], options
// rw, ro, size=, mode=, [no]exec, nosuid, nodev, [no]tmpcopyup. As in
// podman, a tmpfs is noexec, nosuid and nodev unless it says exec; suid
// and dev are refused (a tmpfs that could hold them would let a container
// make setuid programs or device nodes for itself).
func setTmpfs(cs *Spec, v string, _ *ParseOptions) error {
	target, options, _ := strings.Cut(v, ":")
	if !strings.HasPrefix(target, "/") || filepath.Clean(target) == "/" {
		return fmt.Errorf("%q: the path must be absolute and below /", v)
	}
	t := Tmpfs{Target: filepath.Clean(target), NoExec: true}
	for _, o := range strings.Split(options, ",") {
		k, val, _ := strings.Cut(o, "=")
		switch k {
		case "", "rw", "nosuid", "nodev", "rprivate", "private", "tmpcopyup":
		case "ro":
			t.ReadOnly = true
		case "exec":
			t.NoExec = false
		case "noexec":
			t.NoExec = true
		case "notmpcopyup":
			t.NoCopy = true
		case "size":
			if _, err := parseRAM(strings.TrimSuffix(val, "%")); err != nil || strings.ContainsAny(val, ",") {
				return fmt.Errorf("%q: bad size %q", v, val)
			}
			t.Size = val
		case "mode":
			if _, err := strconv.ParseUint(val, 8, 32); err != nil {
				return fmt.Errorf("%q: mode %q is not octal", v, val)
			}
			t.Mode = val
		default:
			return fmt.Errorf("%q: unknown or unsupported tmpfs option %q (rw, ro, size=, mode=, exec, noexec, notmpcopyup)", v, o)
		}
	}
	cs.Tmpfs = append(cs.Tmpfs, t)
	return nil
}

// confiningPodmanFlags are podman run flags that confine a container more
// than it would be without them: PodmanArgs= carrying one is refused, as
// ignoring it (as other PodmanArgs= are) would run the container with less
// confinement than asked. Most have a [Container] key Flotilla implements.
var confiningPodmanFlags = map[string]string{
	"--cap-drop": "DropCapability=", "--security-opt": "NoNewPrivileges=, SeccompProfile=",
	"--read-only": "ReadOnly=", "--user": "User=", "-u": "User=", "--userns": "UserNS=",
	"--uidmap": "UserNS=auto", "--gidmap": "UserNS=auto", "--memory": "Memory=", "-m": "Memory=",
	"--pids-limit": "PidsLimit=", "--cpus": "[Service] CPUQuota=", "--cpu-quota": "[Service] CPUQuota=",
	"--network": "Network=", "--net": "Network=", "--tmpfs": "Tmpfs=", "--ulimit": "[Service] TasksMax=",
}

// checkPodmanArgs refuses a PodmanArgs= value holding a flag that would
// confine the container, naming the key to use instead.
func checkPodmanArgs(v string, o *ParseOptions) error {
	ws, err := unit.SplitWords(v, o.Specifiers.Lookup)
	if err != nil {
		return err
	}
	for _, w := range ws {
		flag, _, _ := strings.Cut(w, "=")
		if key, ok := confiningPodmanFlags[flag]; ok {
			return fmt.Errorf("%s would confine the container, and Flotilla does not run PodmanArgs=: use %s instead", flag, key)
		}
	}
	return nil
}

// readEnvFiles reads s.EnvFiles as podman's --env-file, in order: lines
// of NAME=value (the value as written, to the end of the line), blank
// lines and lines starting with "#" skipped, leading blanks ignored, and a
// bare NAME taken from the environment podman would run with (dropped when
// unset there).
func readEnvFiles(s *Spec) ([]string, error) {
	var env []string
	for _, p := range s.EnvFiles {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("EnvironmentFile=%s: %w", p, err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimLeft(strings.TrimSuffix(line, "\r"), " \t")
			if line == "" || line[0] == '#' {
				continue
			}
			name, _, hasValue := strings.Cut(line, "=")
			if name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("EnvironmentFile=%s: line %d: %q is not NAME=value", p, i+1, line)
			}
			if !hasValue {
				v, ok := s.hostEnv[name]
				if !ok {
					continue
				}
				line += "=" + v
			}
			env = append(env, line)
		}
	}
	return env, nil
}

// StopSignalNumber is the signal StopSignal= names (podman's --stop-signal:
// SIGQUIT, QUIT or 3), or 0 when it names none.
func StopSignalNumber(v string) syscall.Signal {
	if n, err := strconv.Atoi(v); err == nil {
		if n > 0 && n < 65 {
			return syscall.Signal(n)
		}
		return 0
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	return unix.SignalNum(name)
}
