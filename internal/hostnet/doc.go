// Package hostnet brings up a node's own network from the boot config's
// network section: loopback, static addresses, MTU and gateways over
// netlink (Plan picks the interfaces, Setup applies them), and a DHCPv4
// client per DHCP link that waits for the boot lease and then keeps it as
// RFC 2131 says (renew at T1, rebind at T2, drop at the end or on a NAK,
// rediscover with backoff; the timing is the pure dhcpPolicy, table-tested).
// It writes DNS servers to node.ResolvConf.
//
// Init calls Setup once with DHCP everywhere when the config is behind the
// network, and again with the config's network; each call stops the
// previous call's DHCP clients first.
//
// What it must not touch: the config's format and validation
// (internal/bootconfig), the containers' bridge and NAT
// (internal/netbridge), and the console (it reports through logf).
package hostnet
