// Package dns is fleetd's DNS server: it names the cluster's units from
// their endpoints (registry.Endpoint, published by each machine's agent)
// and forwards every other name to the node's own resolvers.
//
// Names, under the cluster domain D (default "flotilla"; fleetd
// --dns-domain), for healthy endpoints of active .service units:
//
//	db.D               db.service (wherever it runs; a Global unit: all copies)
//	web.D              every instance of web@.service together
//	1.web.D            web@1.service alone
//	<machine>.db.D     the copy of db.service on machine <machine> (its ID)
//	_80._tcp.web.D     SRV: web's endpoints whose PublishPort= reaches
//	                   container port 80/tcp (a few IANA names work too:
//	                   _http, _https, _postgresql, _mysql, _redis, _domain)
//	D                  SOA (the zone's apex)
//
// SRV names follow RFC 2782 (_service._proto.name) with the container's
// port as the service, since a unit names no service; each SRV target is
// the endpoint's own name (1.web.D, or <machine>.db.D), whose address is
// in the additional section. Names are case-insensitive; a unit name with
// characters DNS would escape (a backslash) has no name.
//
// Addresses: an A record is the machine's address (registry.Endpoint's
// MachineAddr) and an SRV port the published host port, which every node
// can reach. With Options.ContainerAddrs (fleetd --dns-container-addrs,
// for a cluster network that routes every node's container subnet), an
// endpoint with a bridge address answers with it and with the container's
// port instead.
//
// Health: an endpoint whose health is "starting" or "unhealthy" is left
// out at once (its machine's agent writes the change); a name with no
// endpoint left is NXDOMAIN. TTLs are DefaultTTL (1 s), so a failover
// shows within a second of the new endpoint.
//
// The view is in memory, rebuilt from an etcd watch (Follow); a query
// never reads etcd, and while etcd is unreachable the last view answers.
// Answer is the pure decision (view, question → records), table-tested
// and fuzzed; Server wraps it with miekg/dns over UDP (one socket per CPU,
// SO_REUSEPORT) and TCP. Bounds, so that a flood costs only what its
// queries cost: forwards in flight (64; beyond, SERVFAIL at once), queries
// being answered (1024; beyond, a UDP query is dropped), open TCP
// connections (256). There is no per-client rate limit.
//
// Other names go to the node's resolvers, the nameservers of
// /etc/resolv.conf (read again when it changes), never to the server's
// own addresses. fleetd serves on --dns-listen (127.0.0.1:53 by default)
// and on port 53 of its bridge gateway, where containers' resolv.conf
// points (internal/container).
package dns
