// Package rollout decides the steps of a rolling replace: which instances
// to replace next, when a replaced instance counts as done, and when the
// rollout has failed and must be reverted. It is pure: Step takes the
// rollout's recorded progress and what the agents report, and returns the
// progress to record. The engine (internal/engine/rollout.go) reads and
// writes the progress in etcd through internal/registry and carries it on
// under whichever engine leads; this package touches neither etcd nor
// clocks.
//
// An item is one instance to replace: a unit (a template's instance, or one
// of a set of units), or for a Global unit the unit on one machine. An item
// goes pending → released → done, or failed. While pending it keeps the
// previous revision (the engine's plan leaves its placement's unit file
// alone); once released the engine places the target revision and the
// agent restarts it. It is done once it has run the target revision
// active, and healthy where it has checks, for MinHealthy without a break;
// it fails when it runs the target revision failed or unhealthy, or is not
// done within Deadline of its release.
package rollout
