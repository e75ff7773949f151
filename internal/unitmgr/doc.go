// Package unitmgr defines the one seam between fleet's agent and whatever runs
// units on a machine: the Manager interface and the State it reports.
//
// Backends live in their own packages (internal/supervisor is the native one,
// embedded in fleetd; a systemd D-Bus backend comes later). This package holds
// no backend logic, only the contract and small helpers every backend shares.
package unitmgr
