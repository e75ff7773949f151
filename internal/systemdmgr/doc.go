// Package systemdmgr is the systemd backend of unitmgr.Manager: on hosts
// whose PID 1 is systemd, fleetd's agent hands units to systemd over D-Bus
// instead of running them itself. (Full notes on testing below, filled in
// with the tests.)
package systemdmgr
