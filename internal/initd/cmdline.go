package initd

import (
	"fmt"
	"strings"
)

// Cmdline is what init takes from the kernel command line.
type Cmdline struct {
	Slot      string // "A" or "B" (flotilla.slot=)
	Debug     bool   // flotilla.debug=1: debug shell on the console
	ConfigURL string // flotilla.config=URL
	// Console is the last console= device ("ttyS0"), the one the kernel
	// makes /dev/console; "" when none was given.
	Console string
}

// ParseCmdline reads /proc/cmdline's text. flotilla.slot is required: the
// slot's UKI names it, and a root without a slot cannot be found.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	slotSeen := false
	for _, f := range splitCmdline(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "flotilla.slot":
			slotSeen = true
			c.Slot = strings.ToUpper(v)
		case "flotilla.debug":
			switch strings.ToLower(v) {
			case "", "1", "y", "yes", "true", "on":
				c.Debug = true
			case "0", "n", "no", "false", "off":
				c.Debug = false
			default:
				return c, fmt.Errorf("kernel command line: flotilla.debug=%q: want 1 or 0", v)
			}
		case "flotilla.config":
			c.ConfigURL = v
		case "console":
			dev, _, _ := strings.Cut(v, ",") // ttyS0,115200n8
			c.Console = dev
		}
	}
	if !slotSeen {
		return c, fmt.Errorf("kernel command line: flotilla.slot= is missing: the slot's UKI (or -append) must say flotilla.slot=A or flotilla.slot=B")
	}
	if c.Slot != "A" && c.Slot != "B" {
		return c, fmt.Errorf("kernel command line: flotilla.slot=%q: want A or B", c.Slot)
	}
	return c, nil
}

// splitCmdline splits on spaces outside double quotes, dropping the quotes,
// as the kernel does (param="a b").
func splitCmdline(s string) []string {
	var out []string
	var b strings.Builder
	inQ, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ, any = !inQ, true
		case !inQ && (r == ' ' || r == '\t' || r == '\n'):
			if any {
				out = append(out, b.String())
			}
			b.Reset()
			any = false
		default:
			b.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, b.String())
	}
	return out
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
