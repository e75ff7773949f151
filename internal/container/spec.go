package container

import (
	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// Network modes of Network=.
const (
	NetworkBridge = "bridge" // default: a veth on the node's bridge, NAT outbound
	NetworkHost   = "host"   // the host's network namespace
	NetworkNone   = "none"   // a new network namespace with only lo
)

// Volume is one Volume=SOURCE:TARGET[:ro] bind mount.
type Volume struct {
	Source, Target string
	ReadOnly       bool
}

// Spec is a unit's [Container] section (Podman Quadlet's key names) plus the
// resource limits of its [Service] section.
type Spec struct {
	Image        string   // Image=: registry ref, docker-archive:, oci-archive:, oci:
	Exec         []string // Exec=: arguments after the entrypoint (replace the image's Cmd)
	Entrypoint   []string // Entrypoint=: replaces the image's entrypoint
	Env          []string // Environment=, K=V
	Volumes      []Volume
	PublishPorts []string // PublishPort= values, parsed by netbridge
	Network      string   // bridge (default), host, none
	User         string   // User=: name or uid, looked up in the image's /etc/passwd
	Group        string   // Group=
	ReadOnly     bool
	WorkingDir   string
	HostName     string
	UserNS       bool         // UserNS=auto: a user namespace mapping root to an unprivileged range
	AddCaps      []string     // AddCapability=
	DropCaps     []string     // DropCapability=
	Devices      []DeviceSpec // AddDevice=
	Resources    cgroups.Resources
	// Seccomp is SeccompProfile=: nil is Docker's default profile,
	// seccomp.Unconfined none. Compiled for the container's capabilities.
	Seccomp *seccomp.Profile
}
