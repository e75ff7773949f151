// Package sim is a unitmgr.Manager that runs nothing: units go active the
// moment they are started. It simulates machines in benchmarks (many agents
// in one process against a real etcd and a real engine), where what is
// measured is placement and reporting, not process start-up.
package sim
