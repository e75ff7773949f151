package unit

import (
	"fmt"
	"strings"
)

// MaxNameLength is systemd's limit on a unit name in bytes, suffix
// included: UNIT_NAME_MAX is 256 with the terminating NUL, so the longest
// name unit_name_is_valid accepts is 255 bytes (and so is the longest file
// name Linux allows).
const MaxNameLength = 255

// unitTypes are the systemd unit types a name may end in.
var unitTypes = []string{
	"service", "socket", "device", "mount", "automount", "swap",
	"target", "path", "timer", "slice", "scope",
}

// Name is a validated systemd unit name: a plain unit ("web.service"), a
// template ("web@.service") or an instance of one ("web@1.service").
// The zero Name is not valid; get one from ParseName.
type Name struct {
	full string
	at   int // index of '@' plus one; 0 when there is none (so the zero Name is safe)
	dot  int // index of the '.' before the type suffix
}

// ParseName validates s as a unit name the way systemd and fleet do: at most
// 255 bytes of [A-Za-z0-9:_.@-] and '\', a non-empty prefix and one of
// systemd's unit-type suffixes. The first '@' ends the prefix; the instance
// may hold more ("foo@bar@baz.service" is an instance "bar@baz" of
// foo@.service, as systemd's unit_name_is_valid and fleet's
// NewUnitNameInfo read it). Errors are *Error with Field "name".
func ParseName(s string) (Name, error) {
	bad := func(format string, args ...any) (Name, error) {
		return Name{}, &Error{Unit: s, Field: "name", Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("unit name is empty")
	}
	if len(s) > MaxNameLength {
		return bad("unit name is %d bytes, more than the %d allowed", len(s), MaxNameLength)
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return bad("character %q at byte %d is not allowed: a unit name is made of letters, digits and \":_.@-\\\"", rune(s[i]), i)
		}
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 || !isUnitType(s[dot+1:]) {
		return bad("unit name must end in a unit type: .%s", strings.Join(unitTypes, " ."))
	}
	at := strings.IndexByte(s[:dot], '@')
	prefixEnd := dot
	if at >= 0 {
		prefixEnd = at
	}
	if prefixEnd == 0 {
		return bad("unit name has an empty prefix before %q", s[prefixEnd:])
	}
	return Name{full: s, at: at + 1, dot: dot}, nil
}

func isNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(":_.@-\\", c) >= 0
}

func isUnitType(t string) bool {
	for _, u := range unitTypes {
		if t == u {
			return true
		}
	}
	return false
}

// String returns the full name, e.g. "web@1.service".
func (n Name) String() string { return n.full }

// IsZero reports whether n is the zero Name (not obtained from ParseName).
func (n Name) IsZero() bool { return n.full == "" }

// IsTemplate reports whether n is a template such as "web@.service".
// Templates are stored but never scheduled.
func (n Name) IsTemplate() bool { return n.at > 0 && n.at == n.dot }

// IsInstance reports whether n is an instance such as "web@1.service".
func (n Name) IsInstance() bool { return n.at > 0 && n.at < n.dot }

// Template returns the template an instance or template belongs to
// ("web@.service" for "web@1.service"), or "" for a plain unit.
func (n Name) Template() string {
	if n.at == 0 {
		return ""
	}
	return n.full[:n.at] + n.full[n.dot:]
}

// Prefix returns the part before '@' ("web" for "web@1.service"), or the
// name without its suffix for a plain unit ("db" for "db.service").
func (n Name) Prefix() string {
	if n.at > 0 {
		return n.full[:n.at-1]
	}
	return n.full[:n.dot]
}

// Instance returns the part between '@' and the suffix ("1" for
// "web@1.service"), or "" for templates and plain units.
func (n Name) Instance() string {
	if n.at == 0 {
		return ""
	}
	return n.full[n.at:n.dot]
}

// Base returns the name without its type suffix ("web@1" for "web@1.service").
func (n Name) Base() string { return n.full[:n.dot] }

// Suffix returns the unit type without the dot ("service").
func (n Name) Suffix() string {
	if n.full == "" {
		return ""
	}
	return n.full[n.dot+1:]
}
