// Package netbridge gives containers their network: Network=bridge (the
// default), host and none, as a unit's [Container] section asks.
//
// # What it owns
//
// In the node's network namespace (the one current on the thread calling
// Setup or Teardown):
//
//   - one Linux bridge (Config.Bridge, default flotilla0) holding the first
//     address of the node's subnet (Config.Subnet, default 10.88.0.0/24);
//   - one veth per attached container, host end "flt" + 8 hex digits of a
//     hash of unit and pid, enslaved to the bridge in hairpin mode, its
//     alias recording the address ("flotilla ip=10.88.0.2 pid=… unit=…");
//   - the nftables table "flotilla" (family ip) and nothing outside it;
//   - the sysctls net.ipv4.ip_forward=1 and route_localnet=1 on the bridge.
//
// Inside each container's namespace: eth0 (MAC 02:66 + its IPv4 address),
// lo up, and a default route via the bridge.
//
// It does not touch other interfaces, routes, other nft tables or iptables,
// and never shells out. Only IPv4.
//
// # Rules
//
//	table ip flotilla {
//	  chain guard       { type filter hook prerouting priority raw;
//	                      iifname flotilla0 ip daddr 127.0.0.0/8 drop }
//	  chain prerouting  { type nat hook prerouting priority dstnat;
//	                      fib daddr type local jump published }
//	  chain output      { type nat hook output priority dstnat;
//	                      fib daddr type local jump published }
//	  chain published   { [ip daddr HOSTIP] meta l4proto P th dport HP dnat to IP:CP  # one per mapping }
//	  chain forward     { type filter hook forward priority filter;
//	                      iifname flotilla0 accept; oifname flotilla0 accept }
//	  chain postrouting { type nat hook postrouting priority srcnat;
//	                      ip saddr SUBNET ip daddr != CLUSTER oifname != flotilla0 masquerade # outbound
//	                      oifname flotilla0 ip saddr 127.0.0.0/8 masquerade    # via localhost
//	                      oifname flotilla0 ip saddr SUBNET ct status dnat masquerade } # hairpin
//	}
//
// CLUSTER is Config.ClusterCIDR (internal/clusternet routes every node's
// subnet in it), or SUBNET alone: a container reaching another node's
// container keeps its own address, and only traffic leaving the cluster
// network is masqueraded. The forward chain's accepts already cover
// traffic between the bridge and the cluster network's routes or VXLAN
// device. Config.MTU sets the bridge's and every veth's MTU. Reconfigure
// moves a running bridge to another subnet (refused while a container is
// attached outside it), cluster CIDR or MTU.
//
// Published ports answer on every local address of the node (HostIP ""),
// or one, from outside (prerouting), from the node itself (output) and from
// containers (hairpin). "fib daddr type local" keeps a container's own
// connections to port 8080 elsewhere from being captured.
//
// Localhost: reaching a published port via 127.0.0.1 from the node needs
// the DNATed packet, still with source 127.0.0.1, to be routed out of the
// bridge, which the kernel refuses unless route_localnet=1 on it; the
// masquerade rule then gives it the bridge address so the container can
// answer. route_localnet would also let a container reach the node's
// 127.0.0.1 services by sending to 127.x via the bridge, so the guard chain
// drops that before conntrack. (Docker does the same; the alternative, a
// userspace proxy per port, costs a process and hides client addresses.)
// The forward accepts only matter if nothing else drops: an accept in one
// nft table does not override a drop in another.
//
// # State
//
// There is no state file. The kernel is the record: the addresses in use
// are the ones in the aliases of live veths (plus Attach calls in flight),
// and the DNAT rules carry their veth's name in their UserData. When a
// container dies its namespace goes, the veth pair with it, and its address
// is free; its DNAT rules are dropped by the next Setup or Attach. So a
// restarted fleetd calls Setup again and allocates correctly while units
// keep running. Close releases handles only; Teardown removes it all.
//
// # Modes
//
// The [Container] grammar (internal/container) reads Network=. bridge: the
// caller starts the container with CLONE_NEWNET and calls Attach with its
// pid, Detach when it stops. none: CLONE_NEWNET too, then LoopbackUp;
// nothing else. host: no new network namespace; nothing to do here.
//
// # Example
//
//	nw, err := netbridge.Setup(netbridge.Config{Logf: log.Printf})
//	ports, err := netbridge.ParsePublishPort("8080:80")
//	ep, err := nw.Attach("web.service", pid, ports) // pid made with CLONE_NEWNET
//	// ... container runs; ep.IP is its address ...
//	err = nw.Detach(ep)
package netbridge
