package logforward

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Protocol is how records are framed and carried to a destination.
type Protocol string

const (
	SyslogUDP Protocol = "syslog+udp" // RFC 5424, one record per datagram (RFC 5426)
	SyslogTCP Protocol = "syslog+tcp" // RFC 5424, octet-counted frames (RFC 6587 3.4.1)
	SyslogTLS Protocol = "syslog+tls" // RFC 5424 over TLS, octet-counted frames (RFC 5425)
	JSONTCP   Protocol = "json+tcp"   // one JSON object per line
)

// Buffer bounds: what a destination may hold while its receiver is slow or
// down, counted as message bytes plus recordOverhead per line.
const (
	DefaultBuffer = 1 << 20
	MinBuffer     = 4 << 10
	MaxBuffer     = 64 << 20
	// MaxDestinations bounds --log-forward's repetitions (and the config's list).
	MaxDestinations = 8
)

// Destination is one parsed --log-forward value.
type Destination struct {
	Protocol Protocol
	Addr     string // host:port
	CAFile   string // syslog+tls: PEM CA to verify the server with; "" for the system's roots
	Buffer   int    // bytes; DefaultBuffer when not given
}

// defaultPort is each protocol's well-known port: 514 for syslog over UDP
// (RFC 5426) and, by convention, over TCP; 6514 for TLS (RFC 5425). JSON
// lines have none, so the port is required.
func (p Protocol) defaultPort() string {
	switch p {
	case SyslogUDP, SyslogTCP:
		return "514"
	case SyslogTLS:
		return "6514"
	}
	return ""
}

// Parse reads one destination: PROTOCOL://HOST[:PORT][?ca=/abs/ca.pem][&buffer=SIZE].
// SIZE is bytes with an optional k or m suffix (1024-based).
func Parse(s string) (Destination, error) {
	var d Destination
	bad := func(format string, a ...any) (Destination, error) {
		return Destination{}, fmt.Errorf("log forward destination %q: %s", s, fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("not a URL: want e.g. syslog+udp://host:514 or json+tcp://host:5170")
	}
	d.Protocol = Protocol(strings.ToLower(u.Scheme))
	switch d.Protocol {
	case SyslogUDP, SyslogTCP, SyslogTLS, JSONTCP:
	default:
		return bad("unknown protocol %q: want syslog+udp, syslog+tcp, syslog+tls or json+tcp", u.Scheme)
	}
	if u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.RawFragment != "" {
		return bad("want only PROTOCOL://HOST:PORT and options after ?")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return bad("no host")
	}
	if !validHost(host, u.Host) {
		return bad("bad host %q: want a DNS name, an IPv4 address or a bracketed IPv6 address", host)
	}
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return bad("empty port")
		}
		port = d.Protocol.defaultPort()
		if port == "" {
			return bad("json+tcp needs a port: json+tcp://HOST:PORT")
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return bad("bad port %q: want 1-65535", port)
	}
	d.Addr = net.JoinHostPort(host, port)
	d.Buffer = DefaultBuffer
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("bad options: %v", err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return bad("option %s given %d times", k, len(v))
		}
		switch k {
		case "ca":
			if d.Protocol != SyslogTLS {
				return bad("ca= is only for syslog+tls")
			}
			if !filepath.IsAbs(v[0]) || filepath.Clean(v[0]) != v[0] {
				return bad("ca=%q: want an absolute, clean path to a PEM file", v[0])
			}
			d.CAFile = v[0]
		case "buffer":
			n, err := parseSize(v[0])
			if err != nil || n < MinBuffer || n > MaxBuffer {
				return bad("buffer=%q: want a size from 4k to 64m (bytes, k or m)", v[0])
			}
			d.Buffer = n
		default:
			return bad("unknown option %q: want ca= (syslog+tls) or buffer=", k)
		}
	}
	return d, nil
}

// validHost accepts an IP address (IPv6 only in brackets) or a name of
// letters, digits, '.', '-' and '_'.
func validHost(host, raw string) bool {
	if strings.Contains(host, ":") {
		return strings.HasPrefix(raw, "[") && net.ParseIP(host) != nil
	}
	if len(host) > 253 {
		return false
	}
	for _, c := range []byte(host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parseSize(s string) (int, error) {
	mul := 1
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mul, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mul, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxBuffer || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("bad size")
	}
	return n * mul, nil
}

// String is the destination in the form Parse reads back.
func (d Destination) String() string {
	s := d.Name()
	var opts []string
	if d.CAFile != "" {
		opts = append(opts, "ca="+url.QueryEscape(d.CAFile))
	}
	if d.Buffer != 0 && d.Buffer != DefaultBuffer {
		opts = append(opts, "buffer="+strconv.Itoa(d.Buffer))
	}
	if len(opts) > 0 {
		s += "?" + strings.Join(opts, "&")
	}
	return s
}

// Name is PROTOCOL://HOST:PORT, the metrics' destination label.
func (d Destination) Name() string { return string(d.Protocol) + "://" + d.Addr }

// ParseAll parses a list (repeated --log-forward flags, or the boot
// config's log_forward), refusing more than MaxDestinations or the same
// destination twice.
func ParseAll(ss []string) ([]Destination, error) {
	if len(ss) > MaxDestinations {
		return nil, fmt.Errorf("log forward: %d destinations, at most %d", len(ss), MaxDestinations)
	}
	var ds []Destination
	seen := map[string]bool{}
	for _, s := range ss {
		d, err := Parse(s)
		if err != nil {
			return nil, err
		}
		if seen[d.Name()] {
			return nil, fmt.Errorf("log forward destination %q: given twice", d.Name())
		}
		seen[d.Name()] = true
		ds = append(ds, d)
	}
	return ds, nil
}
