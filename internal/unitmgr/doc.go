// Package unitmgr defines the one seam between fleet's agent and whatever runs
// units on a machine: the Manager interface, ErrNotLoaded, and the coalescing
// change queue every backend's Changes is built on (Queue, Changes). A unit's
// State, which Managers report and the registry stores, is unit.State.
//
// The family, each in its own package below this one:
//
//	native    the native backend: one process forks, supervises, reaps and
//	          logs every unit (systemd's [Service] subset); container units
//	          through internal/container
//	systemd   the systemd backend over D-Bus (fleetd --unit-manager systemd)
//	machine   a machine's native manager built with its container runtime,
//	          image store and bridge: the one constructor fleetd (--dev,
//	          --unit-manager native) and init share
//	remote    a Manager served over a root-only unix socket and its client,
//	          so units live in init while fleetd drives them
//	sim       an in-memory Manager that runs nothing, for benchmarks
//
// Every backend reads [Container] with internal/container's grammar
// (ParseQuadlet) and expands specifiers with internal/unit's one expander.
//
// This package holds no backend logic, only the contract and what every
// backend shares; it must not import any backend.
package unitmgr
