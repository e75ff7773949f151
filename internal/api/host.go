package api

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

// HostCheck wraps h so that a request that came over TCP is served only if
// its Host header names this machine: an IP literal (any: a rebinding page
// reaches us through a DNS name, never an address), "localhost", or one of
// names (fleetd passes the machine name, the hostname and the DNS names of
// its certificate). A web page that rebinds its own name to our address
// sends that name, and gets 421 Misdirected Request. Names compare without
// case and without the port.
//
// Requests over the unix socket are not checked: a browser cannot open a
// unix socket, and only root can connect to it (0600 in a 0700 directory),
// so there is no foreign page to guard against; clients there send a
// placeholder Host.
func HostCheck(h http.Handler, names []string) http.Handler {
	allowed := []string{"localhost"}
	for _, n := range names {
		if n != "" {
			allowed = append(allowed, strings.ToLower(strings.TrimSuffix(n, ".")))
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la.Network() == "unix" {
			h.ServeHTTP(w, r)
			return
		}
		if !hostAllowed(r.Host, allowed) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"Host %q does not name this machine (want an IP address or one of %s): a page using DNS rebinding? Use the machine's address or name in the endpoint",
				r.Host, strings.Join(allowed, ", ")))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func hostAllowed(host string, allowed []string) bool {
	if host == "" {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	return slices.Contains(allowed, strings.ToLower(host))
}
