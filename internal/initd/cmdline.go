package initd

import (
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/node"
)

// Cmdline is what init takes from the kernel command line.
type Cmdline struct {
	Slot      string // "A" or "B" (flotilla.slot=)
	Debug     bool   // flotilla.debug=1: debug shell on the console
	ConfigURL string // flotilla.config=URL
	// Console is the last console= device ("ttyS0"), the one the kernel
	// makes /dev/console; "" when none was given.
	Console string
	// Verity is the slot's dm-verity root hash and layout
	// (flotilla.verity.*); stage 1 mounts the root through it when set.
	Verity node.Verity
}

// ParseCmdline reads /proc/cmdline's text (node.ParseCmdline). flotilla.slot
// is required: the slot's UKI names it, and a root without a slot cannot be
// found.
func ParseCmdline(s string) (Cmdline, error) {
	nc, err := node.ParseCmdline(s)
	c := Cmdline{Slot: nc.Slot, Debug: nc.Debug, ConfigURL: nc.ConfigURL, Console: nc.Console(), Verity: nc.Verity}
	if err != nil {
		return c, err
	}
	if c.Slot == "" {
		return c, fmt.Errorf("kernel command line: %[1]s= is missing: the slot's UKI (or -append) must say %[1]s=A or %[1]s=B", node.KeySlot)
	}
	return c, nil
}

// RootPartName is the GPT partition name of the slot's root.
func (c Cmdline) RootPartName() string { return "ROOT-" + c.Slot }

// ConsoleDevice is the device the debug shell runs on: /dev/<console=>
// when given, else /dev/console.
func (c Cmdline) ConsoleDevice() string {
	if c.Console == "" || strings.Contains(c.Console, "/") {
		return "/dev/console"
	}
	return "/dev/" + c.Console
}
