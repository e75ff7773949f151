package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device is one rule of a device allow-list: access to device numbers of
// one type, as a line of v1's devices.allow ("c 1:3 rwm").
type Device struct {
	Type         byte   // 'c' (character) or 'b' (block)
	Major, Minor int64  // AnyDevice matches every number
	Access       string // a subset of "rwm": read, write, mknod
}

// AnyDevice is a wildcard major or minor number.
const AnyDevice = -1

// DefaultDevices is the allow-list every container gets, as Docker's
// (moby's default spec plus the rules runc appends to it): mknod of any
// device node, which opens nothing by itself, and read/write of null, zero,
// full, random, urandom, tty, console, ptmx and the pseudo-terminals
// (major 136). Nothing else opens unless a unit adds it (AddDevice=).
var DefaultDevices = []Device{
	{'c', AnyDevice, AnyDevice, "m"}, {'b', AnyDevice, AnyDevice, "m"},
	{'c', 1, 3, "rwm"}, {'c', 1, 5, "rwm"}, {'c', 1, 7, "rwm"}, {'c', 1, 8, "rwm"}, {'c', 1, 9, "rwm"},
	{'c', 5, 0, "rwm"}, {'c', 5, 1, "rwm"}, {'c', 5, 2, "rwm"}, {'c', 136, AnyDevice, "rwm"},
}

// deviceRules turns an allow-list into OCI rules: deny everything, then
// allow each entry (later rules win, on v1 as in the v2 BPF filter).
func deviceRules(allow []Device) []specs.LinuxDeviceCgroup {
	num := func(n int64) *int64 { return &n }
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Type: "a", Major: num(AnyDevice), Minor: num(AnyDevice), Access: "rwm"}}
	for _, d := range allow {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: string(d.Type), Major: num(d.Major), Minor: num(d.Minor), Access: d.Access})
	}
	return rules
}
