package container

import (
	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// Network modes of Network=.
const (
	NetworkBridge = "bridge" // default: a veth on the node's bridge, NAT outbound
	NetworkHost   = "host"   // the host's network namespace
	NetworkNone   = "none"   // a new network namespace with only lo
)

// Volume is one Volume=[SOURCE:]TARGET[:OPTIONS]: a bind mount of the host
// path Source; with no Source, the named volume Name (a directory the node
// keeps under Config.Dir/volumes, across restarts and units); with neither,
// an anonymous volume (a fresh directory for each start, removed after it).
type Volume struct {
	Source, Target string
	Name           string
	ReadOnly       bool
	NoCopy         bool // nocopy: a new volume starts empty, not with the image's files at Target
}

// Spec is a unit's [Container] section (Podman Quadlet's key names) plus the
// resource limits of its [Service] section.
type Spec struct {
	Image        string   // Image=: registry ref, docker-archive:, oci-archive:, oci:
	Exec         []string // Exec=: arguments after the entrypoint (replace the image's Cmd)
	Entrypoint   []string // Entrypoint=: replaces the image's entrypoint
	Env          []string // Environment=, K=V
	EnvFiles     []string // EnvironmentFile=: read at each start, under Env
	Volumes      []Volume
	PublishPorts []string // PublishPort= values, parsed by netbridge
	Network      string   // bridge (default), host, none
	User         string   // User=: name or uid, looked up in the image's /etc/passwd
	Group        string   // Group=
	ReadOnly     bool
	// ReadOnlyTmpfs: with ReadOnly, writable tmpfs on /run, /tmp and
	// /var/tmp, as Podman's --read-only-tmpfs (ParseQuadlet sets it by
	// default, as Podman does).
	ReadOnlyTmpfs bool
	VolatileTmp   bool    // VolatileTmp= (deprecated in Quadlet): a tmpfs on /tmp
	Tmpfs         []Tmpfs // Tmpfs=
	WorkingDir    string
	HostName      string
	UserNS        bool         // UserNS=auto: a user namespace mapping root to an unprivileged range
	AddCaps       []string     // AddCapability=
	DropCaps      []string     // DropCapability=
	Devices       []DeviceSpec // AddDevice=
	StopSignal    string       // StopSignal=: what stopping the unit sends first, unless [Service] KillSignal= says
	Resources     cgroups.Resources
	// Seccomp is SeccompProfile=: nil is Docker's default profile,
	// seccomp.Unconfined none. Compiled for the container's capabilities.
	Seccomp *seccomp.Profile
	// Health is the HealthCmd= check and its settings (NotifyHealthy
	// included); nil without a check.
	Health *health.Config

	// hostEnv is the environment podman would run with under Quadlet's
	// unit (its [Service] Environment=), for bare NAMEs in EnvFiles.
	hostEnv map[string]string
	// notifyHealthy is Notify=healthy, moved into Health by checkHealth.
	notifyHealthy bool
}

// Tmpfs is one Tmpfs=PATH[:OPTIONS] (podman's --tmpfs).
type Tmpfs struct {
	Target   string
	Size     string // size= as given ("64m", "10%"); "" is the kernel's default
	Mode     string // mode= in octal; "" is 1777
	ReadOnly bool
	NoExec   bool
	NoCopy   bool // notmpcopyup: not filled with the image's files
}
