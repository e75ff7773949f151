// Package clusternet is the cluster network (issue 10): one cluster CIDR
// (default 10.88.0.0/16) cut into one subnet per machine (/24 default),
// and a backend that routes each peer's subnet.
//
// # What it owns
//
//   - In etcd, through internal/registry: the cluster's network config
//     (network/config, written by the first fleetd) and this machine's
//     subnets/<cidr> claim, on a lease of hours (DefaultLeaseTTL) that Run
//     renews. A renewal costs no revision: an idle cluster writes nothing.
//     A machine gone for longer than the lease loses its subnet.
//   - In the data dir: SubnetFile, the subnet last held, asked for again
//     at the next boot so a machine keeps its subnet across reboots.
//   - In the node's network namespace: routes marked with RouteProtocol
//     (one per peer subnet) and, for vxlan, the device VXLANDevice (VNI 1,
//     UDP 8472, MAC from the machine ID, the subnet's .0/32) with one
//     permanent neighbour and FDB entry per peer.
//
// It does not own the bridge or nftables (internal/netbridge, given the
// subnet, the cluster CIDR and the MTU), and touches no other routes.
//
// # Who calls it
//
// fleetd (internal/fleetd, network.go) joins before its unit manager sets
// up the bridge, so no container starts on a subnet the node does not
// hold. Where init hosts the unit manager (the OS), init sets its bridge
// up at boot on a fixed subnet and fleetd, once joined, moves it with
// remote's PUT /v1/network (netbridge.Reconfigure) before its agent
// starts; a host that cannot leaves the node off the cluster network.
//
// # Flags and what they mean
//
//	--cluster-cidr 10.88.0.0/16   the cluster network, the same on every machine
//	--subnet-len 24               each machine's share
//	--network-backend vxlan       or host-gw; the first fleetd records all
//	                              three in etcd, a machine given others refuses
//	--bridge-subnet auto          claim one (the default); a subnet of the
//	                              CIDR claims that one; a subnet outside it
//	                              is a lone bridge off the cluster network;
//	                              '' is no bridge and no cluster network
//
// # Backends
//
//	host-gw  ip route replace PEER_SUBNET via PEER_IP proto 0x46
//	vxlan    ip neigh replace PEER_SUBNET.0 lladdr PEER_MAC dev flotilla.1 nud permanent
//	         bridge fdb replace PEER_MAC dev flotilla.1 dst PEER_IP self permanent
//	         ip route replace PEER_SUBNET via PEER_SUBNET.0 dev flotilla.1 onlink proto 0x46
//
// host-gw needs every machine on one L2 segment and costs nothing per
// packet; vxlan works across routers at 50 bytes of MTU (underlay - 50).
//
// # Decisions
//
// Choose (which subnet) and Peers (what to program) are pure functions of
// what the registry holds and are table-tested; Join and Run apply them.
//
// # Example
//
//	plan, err := clusternet.ParsePlan("10.88.0.0/16", 24)
//	n, err := clusternet.Join(ctx, reg, clusternet.Config{Plan: plan,
//		Backend: clusternet.BackendVXLAN, Machine: id, PublicIP: "192.0.2.10", DataDir: dir})
//	// bridge on n.Subnet with n.MTU, then:
//	go n.Run(ctx)
package clusternet
