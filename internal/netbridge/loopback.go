//go:build linux

package netbridge

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// LoopbackUp brings up lo in the network namespace of pid: all Network=none
// needs (Attach does it for bridge).
func LoopbackUp(pid int) error {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("netbridge: netns of pid %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netbridge: netlink in netns of pid %d: %w", pid, err)
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return fmt.Errorf("netbridge: pid %d: %w", pid, err)
	}
	return nil
}
