package dns

import (
	"net"
	"os"
	"slices"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// upstreams are where names outside the zone go: fixed ones, or the
// nameservers of a resolv.conf, read again when the file changes (DHCP
// rewrites it), never one of our own addresses (a loop).
type upstreams struct {
	fixed []string
	path  string
	own   []string

	mu    sync.Mutex
	mtime time.Time
	cur   []string
}

func newUpstreams(fixed []string, path string, own []string) *upstreams {
	return &upstreams{fixed: fixed, path: path, own: own}
}

func (u *upstreams) get() []string {
	if u.fixed != nil {
		return u.fixed
	}
	fi, err := os.Stat(u.path)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if fi.ModTime().Equal(u.mtime) {
		return u.cur
	}
	u.mtime, u.cur = fi.ModTime(), nil
	cc, err := mdns.ClientConfigFromFile(u.path)
	if err != nil {
		return nil
	}
	for _, ns := range cc.Servers {
		a := net.JoinHostPort(ns, cc.Port)
		if !u.isOwn(a) {
			u.cur = append(u.cur, a)
		}
	}
	return u.cur
}

// isOwn: a, or the same port on one of this node's addresses when we
// listen on a wildcard address.
func (u *upstreams) isOwn(a string) bool {
	if slices.Contains(u.own, a) {
		return true
	}
	host, port, _ := net.SplitHostPort(a)
	ip := net.ParseIP(host)
	for _, o := range u.own {
		h, p, _ := net.SplitHostPort(o)
		if p == port && (h == "" || net.ParseIP(h).IsUnspecified()) && isLocal(ip) {
			return true
		}
	}
	return false
}

// isLocal reports whether ip is one of this node's addresses.
func isLocal(ip net.IP) bool {
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
