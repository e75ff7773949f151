package bootconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/logforward"
	"github.com/flotilla-os/flotilla/internal/rebootwindow"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Validate checks every rule of docs/bootconfig.md and reports all the
// problems it finds, joined with errors.Join, each an *Error naming its
// field's JSON path. It does not check certificate expiry: the clock may not
// be set yet when init reads the config.
func (c *Config) Validate() error {
	p := &problems{}
	c.validate(p)
	return p.err()
}

func (c *Config) validate(p *problems) {
	if c.Version != 0 && c.Version != 1 {
		p.add("version", "%d is not a version this Flotilla reads: use 1", c.Version)
	}
	if c.Hostname != "" {
		if msg := checkHostname(c.Hostname); msg != "" {
			p.add("hostname", "%q %s", c.Hostname, msg)
		}
	}
	c.Network.validate(p)
	c.Cluster.validate(p, c)
	validateMetadata(p, c.Metadata)
	if c.TLS != nil {
		c.TLS.validate(p)
	}
	if c.Update != nil {
		c.Update.validate(p)
	}
	validateUnits(p, c.Units)
	validateLogForward(p, c.LogForward)
}

func validateLogForward(p *problems, ds []LogDestination) {
	if len(ds) > logforward.MaxDestinations {
		p.add("log_forward", "has %d destinations: at most %d", len(ds), logforward.MaxDestinations)
	}
	seen := map[string]int{}
	for i, d := range ds {
		path := index("log_forward", i)
		dest, err := logforward.Parse(d.URL)
		if err != nil {
			p.add(field(path, "url"), "%v", err)
			continue
		}
		if j, dup := seen[dest.Name()]; dup {
			p.add(field(path, "url"), "%s is also log_forward[%d]: give each destination once", dest.Name(), j)
		}
		seen[dest.Name()] = i
		if d.CA == "" {
			continue
		}
		switch {
		case dest.Protocol != logforward.SyslogTLS:
			p.add(field(path, "ca"), "is only for syslog+tls destinations")
		case dest.CAFile != "":
			p.add(field(path, "ca"), "and ca= in the URL: give one of them")
		default:
			certs(p, field(path, "ca"), d.CA, "the CA that signs the receiver's certificate")
		}
	}
}

// checkHostname applies RFC 1123: dot-separated labels of letters, digits
// and '-', 1 to 63 bytes each, not starting or ending with '-', 253 bytes in
// all. It returns what is wrong, or "".
func checkHostname(h string) string {
	if len(h) > 253 {
		return "is longer than 253 bytes"
	}
	for _, l := range strings.Split(h, ".") {
		switch {
		case l == "":
			return "has an empty label (two dots, or a dot at an end)"
		case len(l) > 63:
			return "has a label longer than 63 bytes"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "has a label starting or ending with '-'"
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return "may only contain letters, digits, '-' and '.' (RFC 1123)"
			}
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (n *Network) validate(p *problems) {
	names, macs := map[string]int{}, map[string]int{}
	gateways := map[bool]int{} // IPv4? -> index of the interface with that family's gateway
	for i := range n.Interfaces {
		path := index("network.interfaces", i)
		ifc := &n.Interfaces[i]
		ifc.validate(p, path)
		if ifc.Name != "" {
			if j, dup := names[ifc.Name]; dup {
				p.add(field(path, "name"), "%q is also network.interfaces[%d]: configure each link once", ifc.Name, j)
			} else {
				names[ifc.Name] = i
			}
		}
		if hw, err := net.ParseMAC(ifc.MAC); err == nil {
			if j, dup := macs[hw.String()]; dup {
				p.add(field(path, "mac"), "%q is also network.interfaces[%d]: configure each link once", ifc.MAC, j)
			} else {
				macs[hw.String()] = i
			}
		}
		if gw, err := netip.ParseAddr(ifc.Gateway); err == nil {
			if j, dup := gateways[gw.Unmap().Is4()]; dup {
				p.add(field(path, "gateway"), "network.interfaces[%d] already has the default route of this address family: give a gateway on one interface only", j)
			} else {
				gateways[gw.Unmap().Is4()] = i
			}
		}
	}
	for i, d := range n.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			p.add(index("network.dns", i), "%q is not an IP address (want e.g. 10.77.0.254 or 2001:db8::53; names cannot be resolved before DNS)", d)
		}
	}
}

func (ifc *Interface) validate(p *problems, path string) {
	switch {
	case ifc.Name == "" && ifc.MAC == "":
		p.add(path, "give the link's name (e.g. eth0) or its mac (e.g. 52:54:00:12:34:56)")
	case ifc.Name != "" && ifc.MAC != "":
		p.add(path, "give name or mac, not both")
	}
	if ifc.Name != "" {
		if msg := checkLinkName(ifc.Name); msg != "" {
			p.add(field(path, "name"), "%q %s", ifc.Name, msg)
		}
	}
	if ifc.MAC != "" {
		if hw, err := net.ParseMAC(ifc.MAC); err != nil || len(hw) != 6 {
			p.add(field(path, "mac"), "%q is not an ethernet MAC address (want e.g. 52:54:00:12:34:56)", ifc.MAC)
		}
	}
	switch {
	case ifc.DHCP && len(ifc.Addresses) > 0:
		p.add(path, "dhcp and addresses exclude each other: remove one")
	case !ifc.DHCP && len(ifc.Addresses) == 0:
		p.add(path, `say how to address the link: "dhcp": true, or "addresses": ["10.77.0.1/24"]`)
	}
	var prefixes []netip.Prefix
	for j, a := range ifc.Addresses {
		pf, err := netip.ParsePrefix(a)
		if err != nil {
			p.add(index(field(path, "addresses"), j), "%q is not a CIDR address (want e.g. 10.77.0.1/24)", a)
			continue
		}
		prefixes = append(prefixes, pf)
	}
	if ifc.Gateway != "" {
		gw, err := netip.ParseAddr(ifc.Gateway)
		switch {
		case err != nil:
			p.add(field(path, "gateway"), "%q is not an IP address (want e.g. 10.77.0.254)", ifc.Gateway)
		case ifc.DHCP:
			p.add(field(path, "gateway"), "DHCP provides the gateway: remove it, or use static addresses")
		case len(prefixes) == len(ifc.Addresses) && !slices.ContainsFunc(prefixes, func(pf netip.Prefix) bool { return pf.Masked().Contains(gw) }):
			p.add(field(path, "gateway"), "%s is outside every subnet of addresses (%s): the next hop must be on the link", ifc.Gateway, strings.Join(ifc.Addresses, ", "))
		}
	}
	if ifc.MTU != 0 && (ifc.MTU < 576 || ifc.MTU > 9000) {
		p.add(field(path, "mtu"), "%d is out of range: want 576 to 9000, or leave it out for the link's default", ifc.MTU)
	}
}

// checkLinkName applies the kernel's rule for interface names.
func checkLinkName(n string) string {
	switch {
	case len(n) > 15:
		return "is longer than 15 bytes, the kernel's limit for a link name"
	case n == "." || n == "..":
		return "is not a link name"
	case strings.ContainsAny(n, "/: \t\n\r\v\f"):
		return "may not contain '/', ':' or whitespace"
	}
	return ""
}

func (cl *Cluster) validate(p *problems, c *Config) {
	const path = "cluster"
	https := false // whether any cluster URL uses https
	checkURL := func(f, u string) {
		if msg := checkClusterURL(u); msg != "" {
			p.add(f, "%q %s", u, msg)
		} else if strings.HasPrefix(u, "http://") {
			p.add(f, "%q is plaintext: %s", u, plaintextHint)
		}
		if strings.HasPrefix(u, "https://") {
			https = true
		}
	}
	switch cl.Role {
	case "", "member", "client":
	default:
		p.add(field(path, "role"), `%q is not a role: use "member" (run an etcd member) or "client" (use endpoints)`, cl.Role)
	}
	if cl.Name != "" {
		if msg := checkMemberName(cl.Name); msg != "" {
			p.add(field(path, "name"), "%q %s", cl.Name, msg)
		}
	}
	if cl.PeerURL != "" {
		checkURL(field(path, "peer_url"), cl.PeerURL)
	}
	if cl.ClientURL != "" {
		checkURL(field(path, "client_url"), cl.ClientURL)
	}
	for i, e := range cl.Endpoints {
		checkURL(index(field(path, "endpoints"), i), e)
	}
	if cl.Role == "client" {
		if len(cl.Endpoints) == 0 {
			p.add(field(path, "endpoints"), `a client needs at least one etcd client URL, e.g. ["https://10.77.0.1:2379"]`)
		}
		for _, f := range []struct{ name, v string }{{"peer_url", cl.PeerURL}, {"client_url", cl.ClientURL}, {"initial_cluster", cl.InitialCluster}} {
			if f.v != "" {
				p.add(field(path, f.name), `only a member has %s: remove it, or set role to "member"`, f.name)
			}
		}
	} else {
		if len(cl.Endpoints) > 0 {
			p.add(field(path, "endpoints"), `only a client uses endpoints: set role to "client", or remove them`)
		}
		if cl.InitialCluster != "" || cl.PeerURL != "" || cl.ClientURL != "" {
			if cl.PeerURL == "" {
				p.add(field(path, "peer_url"), "a member of a named cluster needs its peer URL, e.g. https://10.77.0.1:2380")
			}
			if cl.ClientURL == "" {
				p.add(field(path, "client_url"), "a member of a named cluster needs its client URL, e.g. https://10.77.0.1:2379")
			}
		}
		if cl.InitialCluster != "" {
			cl.initialCluster(p, c, checkURL)
		}
	}
	cl.Network.validate(p, field(path, "network"))
	if https && c.TLS == nil {
		p.add(path, "https URLs need the TLS bundle: set tls (ca, cert, key); a one-node member without tls sets no URLs, and fleetd makes node-local certificates")
	}
}

// initialCluster checks name=url pairs and that this member is among them
// with its peer URL.
func (cl *Cluster) initialCluster(p *problems, c *Config, checkURL func(f, u string)) {
	f := field("cluster", "initial_cluster")
	urls := map[string][]string{}
	var names []string
	for _, pair := range strings.Split(cl.InitialCluster, ",") {
		name, u, ok := strings.Cut(pair, "=")
		if !ok || name == "" || u == "" {
			p.add(f, "entry %q is not name=peer-url (want e.g. n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380)", pair)
			continue
		}
		checkURL(f, u)
		if _, seen := urls[name]; !seen {
			names = append(names, name)
		}
		urls[name] = append(urls[name], u)
	}
	me := c.MemberName()
	switch {
	case me == "":
		p.add(field("cluster", "name"), "initial_cluster must name this member, but neither cluster.name nor hostname is set: set one")
	case len(urls) > 0 && urls[me] == nil:
		p.add(f, "does not name this member %q (cluster.name, else hostname); it names %s", me, strings.Join(names, ", "))
	case urls[me] != nil && cl.PeerURL != "" && !slices.Contains(urls[me], cl.PeerURL):
		p.add(f, "gives %q the peer URL %s, but cluster.peer_url is %s: make them the same", me, strings.Join(urls[me], " and "), cl.PeerURL)
	}
}

// plaintextHint says why a plaintext cluster URL is refused and what to do.
const plaintextHint = "etcd must use mutual TLS, loopback included: every local user and Network=host container can reach a plaintext etcd, write units that run as root and forge raft messages; use https:// and set tls (ca, cert, key), or, on a one-node member, set no URLs (fleetd then makes node-local certificates)"

// checkClusterURL applies etcd's rules to a peer or client URL: http or
// https, a host and a port, nothing else.
func checkClusterURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://"):
		return "must start with http:// or https://"
	case err != nil:
		return "is not a URL (want e.g. https://10.77.0.1:2379)"
	case u.Host == "" || u.Hostname() == "":
		return "has no host (want e.g. https://10.77.0.1:2379)"
	case u.Port() == "":
		return "has no port (want host:port, e.g. https://10.77.0.1:2379)"
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "may only have a scheme, a host and a port"
	}
	return ""
}

// checkMemberName keeps names usable in initial_cluster and metadata.
func checkMemberName(n string) string {
	if strings.ContainsAny(n, ",= \t\r\n\"") || strings.ContainsFunc(n, isCtl) {
		return `may not contain ',', '=', quotes or whitespace`
	}
	return ""
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

func validateMetadata(p *problems, md map[string]string) {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := key("metadata", k)
		if k == "" {
			p.add(f, "empty key: every metadata entry needs a name")
		} else if msg := checkMemberName(k); msg != "" {
			p.add(f, "key %s", msg)
		}
		if v := md[k]; v == "" {
			p.add(f, "empty value: give a value, or remove the entry")
		} else if msg := checkMemberName(v); msg != "" {
			p.add(f, "value %q %s", v, msg)
		}
	}
}

func (t *TLS) validate(p *problems) {
	roots := x509.NewCertPool()
	cas := certs(p, "tls.ca", t.CA, "the cluster CA's certificate")
	for _, c := range cas {
		roots.AddCert(c)
	}
	chain := certs(p, "tls.cert", t.Cert, "this node's certificate")
	keyOK := false
	switch {
	case strings.TrimSpace(t.Key) == "":
		p.add("tls.key", "missing: give this node's private key, PEM (-----BEGIN EC PRIVATE KEY----- or PRIVATE KEY)")
	default:
		b, _ := pem.Decode([]byte(t.Key))
		if b == nil || !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			p.add("tls.key", "has no PEM private key block (-----BEGIN ... PRIVATE KEY-----)")
		} else {
			keyOK = true
		}
	}
	if len(chain) > 0 && keyOK {
		if _, err := tls.X509KeyPair([]byte(t.Cert), []byte(t.Key)); err != nil {
			p.add("tls.key", "does not go with tls.cert: %v", strings.TrimPrefix(err.Error(), "tls: "))
		}
	}
	if len(chain) == 0 || len(cas) == 0 {
		return
	}
	inter := x509.NewCertPool()
	notBefore := chain[0].NotBefore
	for _, c := range append(chain[1:], cas...) {
		inter.AddCert(c)
		if c.NotBefore.After(notBefore) {
			notBefore = c.NotBefore
		}
	}
	// Check the signatures, not the clock: verify at a time when every
	// certificate had started to be valid.
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   notBefore.Add(time.Second),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		p.add("tls.cert", "is not signed by tls.ca: %v", err)
	}
}

// certs parses the CERTIFICATE blocks of a PEM field, reporting problems.
func certs(p *problems, f, s, what string) []*x509.Certificate {
	if strings.TrimSpace(s) == "" {
		p.add(f, "missing: give %s, PEM (-----BEGIN CERTIFICATE-----)", what)
		return nil
	}
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			p.add(f, "has a %q PEM block: want only CERTIFICATE blocks", b.Type)
			return nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			p.add(f, "certificate %d does not parse: %v", len(out)+1, err)
			return nil
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		p.add(f, "has no PEM CERTIFICATE block: give %s (-----BEGIN CERTIFICATE-----)", what)
	}
	return out
}

func (u *Update) validate(p *problems) {
	if u.URL == "" {
		p.add("update.url", "missing: give the update server's URL, e.g. https://updates.example.com/flotilla")
	} else if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Hostname() == "" {
		p.add("update.url", "%q is not an http or https URL with a host (want e.g. https://updates.example.com/flotilla)", u.URL)
	}
	if u.PublicKey == "" {
		p.add("update.public_key", "missing: give the ed25519 key that signs updates, base64 of its 32 bytes")
	} else if k, err := base64.StdEncoding.DecodeString(u.PublicKey); err != nil || len(k) != 32 {
		p.add("update.public_key", "is not base64 (standard, padded) of 32 bytes, an ed25519 public key: `updater` prints it")
	}
	if u.Interval != "" {
		if d, err := time.ParseDuration(u.Interval); err != nil || d < time.Second {
			p.add("update.interval", "%q is not a Go duration of at least 1s (want e.g. 1h or 30m)", u.Interval)
		}
	}
	if u.Channel != "" && strings.Trim(u.Channel, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		p.add("update.channel", "%q may only contain a-z, 0-9 and '-' (e.g. stable, beta)", u.Channel)
	}
	if w := u.RebootWindow; w != nil {
		if _, err := rebootwindow.Parse(w.Start, w.Length); err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var we *rebootwindow.Error
				if errors.As(e, &we) {
					p.add(field("update.reboot_window", we.Field), "%s", we.Problem())
				} else {
					p.add("update.reboot_window", "%v", e)
				}
			}
		}
	}
}

func validateUnits(p *problems, units []Unit) {
	seen := map[string]int{}
	for i := range units {
		u := &units[i]
		path := index("units", i)
		n, err := unit.ParseName(u.Name)
		if err != nil {
			p.add(field(path, "name"), "%v", err)
		} else if j, dup := seen[u.Name]; dup {
			p.add(field(path, "name"), "%q is also units[%d]: give each unit once", u.Name, j)
		} else {
			seen[u.Name] = i
		}
		if err == nil && n.IsTemplate() && u.ShouldStart() {
			p.add(field(path, "start"), "%s is a template, which cannot be started: set start to false, or name an instance such as %s", u.Name, n.Prefix()+"@1."+n.Suffix())
		}
		if u.Contents == "" {
			p.add(field(path, "contents"), "missing: give the unit file's text")
			continue
		}
		name := u.Name
		if err != nil {
			name = "unnamed.service" // still check the contents
		}
		f, perr := unit.Parse(name, []byte(u.Contents))
		if perr == nil {
			_, _, perr = unit.Validate(name, f)
		}
		if perr != nil {
			p.add(field(path, "contents"), "%v", perr)
		}
	}
}

// validate checks the cluster network as fleetd's flags would, so a bad
// value fails at boot naming its field rather than in fleetd's log.
func (n *ClusterNetwork) validate(p *problems, path string) {
	bits := 16
	if n.CIDR != "" {
		pf, err := netip.ParsePrefix(n.CIDR)
		switch {
		case err != nil || !pf.Addr().Is4():
			p.add(field(path, "cidr"), "%q is not an IPv4 CIDR such as 10.88.0.0/16", n.CIDR)
		case pf.Masked() != pf:
			p.add(field(path, "cidr"), "%q has host bits set: did you mean %s?", n.CIDR, pf.Masked())
		default:
			bits = pf.Bits()
		}
	}
	if n.SubnetLen != 0 && (n.SubnetLen <= bits || n.SubnetLen > 29) {
		p.add(field(path, "subnet_len"), "%d: want more than the CIDR's /%d (one subnet per machine) and at most 29", n.SubnetLen, bits)
	}
	if n.SubnetLen == 0 && bits >= 24 {
		p.add(field(path, "subnet_len"), "the default 24 does not split a /%d: set a longer subnet_len", bits)
	}
	switch n.Backend {
	case "", "vxlan", "host-gw":
	default:
		p.add(field(path, "backend"), `%q is not a backend: use "vxlan" or "host-gw"`, n.Backend)
	}
}
