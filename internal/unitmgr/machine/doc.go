// Package machine builds a machine's native unit manager: the native
// backend (internal/unitmgr/native) together with the container runtime it runs
// container units with (image store, optional bridge, internal/container).
// It is the one constructor both hosts share: fleetd embeds it for
// `fleetd --dev` and --unit-manager native, and init hosts it on Flotilla
// nodes, serving it to fleetd over internal/unitmgr/remote.
//
// Layout under Config.Dir:
//
//	units/       unit logs (supervisor)
//	images/      the image store
//	containers/  per-unit container roots
//
// What it must not touch: the cluster (etcd, registry, agent) and the
// transport a manager is reached over. Close stops the units and releases
// the bridge's handles; it leaves the bridge, veths and nft rules in place
// (netbridge.Setup picks them up again).
package machine
