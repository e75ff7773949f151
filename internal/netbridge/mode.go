package netbridge

import "fmt"

// Mode is a unit's Network= setting.
type Mode string

// Network modes.
const (
	ModeBridge Mode = "bridge" // own netns, veth on the node bridge (default)
	ModeHost   Mode = "host"   // the node's netns
	ModeNone   Mode = "none"   // own netns with only lo
)

// ParseMode parses Network=; "" is ModeBridge.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeBridge, nil
	case ModeBridge, ModeHost, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("netbridge: Network=%q: want bridge, host or none", s)
}

// NewNetNS reports whether the container needs its own network namespace
// (CLONE_NEWNET).
func (m Mode) NewNetNS() bool { return m != ModeHost }
