package netbridge

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// PortMapping publishes one container port on the node. HostIP "" means every
// local IPv4 address of the node (including 127.0.0.1).
type PortMapping struct {
	HostIP        string // "" = all
	HostPort      uint16
	ContainerPort uint16
	Protocol      string // tcp|udp
}

func (p PortMapping) String() string {
	return fmt.Sprintf("%s/%s->%d", net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort))), p.Protocol, p.ContainerPort)
}

// overlaps reports whether p and q would claim the same packets on the node.
func (p PortMapping) overlaps(q PortMapping) bool {
	if p.Protocol != q.Protocol || p.HostPort != q.HostPort {
		return false
	}
	return p.HostIP == "" || q.HostIP == "" || p.HostIP == q.HostIP
}

// maxRange bounds how many mappings one PublishPort value may expand to.
const maxRange = 1024

// ParsePublishPort parses a Podman/Quadlet PublishPort= value:
//
//	[[hostIP:][hostPort]:]containerPort[/protocol]
//
// hostPort and containerPort may be ranges ("8080-8081:80-81", same length);
// protocol is tcp (default), udp, or "tcp,udp". hostIP "" or 0.0.0.0 means all
// addresses; only IPv4 is supported.
//
// Unlike Podman, a missing host port ("80", "127.0.0.1::80") means the same
// port on the host, not a random one: a scheduler must know the port up front
// and a unit keeps it across restarts and moves.
func ParsePublishPort(s string) ([]PortMapping, error) {
	m, err := parsePublishPort(s)
	if err != nil {
		return nil, fmt.Errorf("netbridge: PublishPort %q: %w", s, err)
	}
	return m, nil
}

func parsePublishPort(s string) ([]PortMapping, error) {
	if s == "" {
		return nil, fmt.Errorf("empty value")
	}
	spec, protos := s, "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		spec, protos = s[:i], s[i+1:]
	}
	var protocols []string
	for _, p := range strings.Split(protos, ",") {
		switch p {
		case "tcp", "udp":
		default:
			return nil, fmt.Errorf("protocol %q: want tcp, udp or tcp,udp", p)
		}
		if slices.Contains(protocols, p) {
			return nil, fmt.Errorf("protocol %q listed twice", p)
		}
		protocols = append(protocols, p)
	}

	var hostIP, hostPart, ctrPart string
	if strings.HasPrefix(spec, "[") {
		return nil, fmt.Errorf("IPv6 host address: only IPv4 is supported")
	}
	switch parts := strings.Split(spec, ":"); len(parts) {
	case 1:
		ctrPart = parts[0]
	case 2:
		hostPart, ctrPart = parts[0], parts[1]
		if hostPart == "" {
			return nil, fmt.Errorf("empty host port before ':'")
		}
	case 3:
		hostIP, hostPart, ctrPart = parts[0], parts[1], parts[2]
		ip := net.ParseIP(hostIP)
		if ip == nil || ip.To4() == nil {
			return nil, fmt.Errorf("host address %q: want an IPv4 address", hostIP)
		}
		hostIP = ip.To4().String()
		if hostIP == "0.0.0.0" {
			hostIP = ""
		}
	default:
		return nil, fmt.Errorf("too many ':' (IPv6 host addresses are not supported)")
	}

	cLo, cHi, err := parseRange(ctrPart, "container port")
	if err != nil {
		return nil, err
	}
	hLo, hHi := cLo, cHi
	if hostPart != "" {
		if hLo, hHi, err = parseRange(hostPart, "host port"); err != nil {
			return nil, err
		}
	}
	if hHi-hLo != cHi-cLo {
		return nil, fmt.Errorf("host range %s and container range %s differ in length", hostPart, ctrPart)
	}
	if int(cHi-cLo)+1 > maxRange {
		return nil, fmt.Errorf("range of %d ports: at most %d", int(cHi-cLo)+1, maxRange)
	}

	var out []PortMapping
	for _, proto := range protocols {
		for i := 0; i <= int(cHi-cLo); i++ {
			out = append(out, PortMapping{
				HostIP:        hostIP,
				HostPort:      hLo + uint16(i),
				ContainerPort: cLo + uint16(i),
				Protocol:      proto,
			})
		}
	}
	return out, nil
}

func parseRange(s, what string) (lo, hi uint16, err error) {
	loS, hiS, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(loS, what); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(hiS, what); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("%s range %q runs backwards", what, s)
		}
	}
	return lo, hi, nil
}

func parsePort(s, what string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty %s", what)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s %q: not a number", what, s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s %q: want 1-65535", what, s)
	}
	return uint16(n), nil
}

// checkPorts validates mappings handed to Attach and rejects ones that
// overlap each other.
func checkPorts(ports []PortMapping) error {
	for i, p := range ports {
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return fmt.Errorf("netbridge: port %s: protocol must be tcp or udp", p)
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return fmt.Errorf("netbridge: port %s: ports must be 1-65535", p)
		}
		if p.HostIP != "" {
			if ip := net.ParseIP(p.HostIP); ip == nil || ip.To4() == nil {
				return fmt.Errorf("netbridge: port %s: host address must be IPv4", p)
			}
		}
		for _, q := range ports[:i] {
			if p.overlaps(q) {
				return fmt.Errorf("netbridge: ports %s and %s overlap", q, p)
			}
		}
	}
	return nil
}
