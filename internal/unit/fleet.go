package unit

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// FleetSection is the section holding fleet's scheduling options.
const FleetSection = "X-Fleet"

// Fleet is the parsed [X-Fleet] section of a unit, specifiers expanded.
// The zero Fleet places a unit on any machine.
type Fleet struct {
	// MachineID pins the unit to one machine.
	MachineID string
	// MachineOf places the unit on the machine where every named unit is placed.
	MachineOf []string
	// MachineMetadata: a machine must have, for every key, one of the values.
	MachineMetadata map[string][]string
	// Conflicts are globs (path.Match) over unit names that may not share a
	// machine with this unit; the relation is symmetric.
	Conflicts []string
	// Global runs the unit on every machine matching MachineMetadata (and,
	// with Conflicts, running no unit it conflicts with).
	Global bool
	// Replaces are globs (path.Match, as fleet's) over the names of units
	// that may not share a machine with this one and that give way to it
	// when both want the same machine.
	Replaces []string
	// Reserve is what the unit needs on its machine: ReserveMemory= and
	// ReserveCPU=, else its [Service] MemoryMax= and CPUQuota= or Quadlet
	// [Container] Memory=. Placement never puts more on a machine than the
	// capacity it reports.
	Reserve Resources
}

// MatchesMachineID reports whether a unit pinned with MachineID=want may
// run on the machine with ID id: want is the full ID or, as fleet's
// MachineState.MatchID allows, its first 8 characters (the short ID that
// fleetctl list-machines shows).
func MatchesMachineID(id, want string) bool {
	return id == want || (len(id) > shortIDLen && id[:shortIDLen] == want)
}

const shortIDLen = 8

// ReplacesUnit reports whether one of f's Replaces patterns matches name.
func (f Fleet) ReplacesUnit(name string) bool {
	for _, p := range f.Replaces {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// IsGlobal reports whether the unit runs on every matching machine.
func (f Fleet) IsGlobal() bool { return f.Global }

// IsZero reports whether the unit has no scheduling constraint at all.
func (f Fleet) IsZero() bool {
	return f.MachineID == "" && len(f.MachineOf) == 0 && len(f.MachineMetadata) == 0 &&
		len(f.Conflicts) == 0 && !f.Global && len(f.Replaces) == 0 && f.Reserve.IsZero()
}

// ConflictsWith reports whether one of f's Conflicts patterns matches name.
// (Conflicts are symmetric: callers check both units' patterns.)
func (f Fleet) ConflictsWith(name string) bool {
	for _, p := range f.Conflicts {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// MatchesMetadata reports whether a machine with metadata md satisfies
// MachineMetadata, as fleet's machine.HasMetadata decides: every key is
// present, and its value is one of the listed values or else holds for
// every listed value, each then a comparison: <=N >=N <N >N (integers),
// !=V or ==V. So region=eu region=us is "eu or us", and ram>=1024
// ram<=4096 is "between 1024 and 4096".
func (f Fleet) MatchesMetadata(md map[string]string) bool {
	for k, vs := range f.MachineMetadata {
		v, ok := md[k]
		if !ok {
			return false
		}
		if contains(vs, v) {
			continue
		}
		for _, want := range vs {
			if !metadataOpHolds(want, v) {
				return false
			}
		}
	}
	return true
}

// metadataOps are the comparisons fleet's RequiredTargetMetadata splits a
// MachineMetadata entry at, in the order it tries them.
var metadataOps = []string{"<=", ">=", "!=", "<", ">"}

// metadataOpHolds reports whether have satisfies want, a value that starts
// with a comparison (fleet's machine.HasMetadata).
func metadataOpHolds(want, have string) bool {
	num := func(op string, cmp func(h, n int) bool) bool {
		n, err1 := strconv.Atoi(want[len(op):])
		h, err2 := strconv.Atoi(have)
		return err1 == nil && err2 == nil && cmp(h, n)
	}
	switch {
	case strings.HasPrefix(want, "<="):
		return num("<=", func(h, n int) bool { return h <= n })
	case strings.HasPrefix(want, ">="):
		return num(">=", func(h, n int) bool { return h >= n })
	case strings.HasPrefix(want, ">"):
		return num(">", func(h, n int) bool { return h > n })
	case strings.HasPrefix(want, "<"):
		return num("<", func(h, n int) bool { return h < n })
	case strings.HasPrefix(want, "!="):
		return want[2:] != have
	case strings.HasPrefix(want, "=="):
		return want[2:] == have
	}
	return false
}

// splitMetadata splits a MachineMetadata entry as fleet's
// RequiredTargetMetadata does: at the first comparison it finds (trying
// <= >= != < > in turn; the value keeps it), else at '='; ok is false for
// what fleet skips: no separator, more than one '=', an empty side.
func splitMetadata(v string) (key, value string, ok bool) {
	for _, op := range metadataOps {
		if i := strings.Index(v, op); i >= 0 {
			return v[:i], v[i:], i > 0
		}
	}
	parts := strings.Split(v, "=")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// fleetKeys maps every accepted [X-Fleet] key, fleet's deprecated aliases
// included, to its canonical name.
var fleetKeys = map[string]string{
	"MachineID":                  "MachineID",
	"X-ConditionMachineID":       "MachineID",
	"X-ConditionMachineBootID":   "MachineID", // fleet's legacy key: matched against machine IDs too
	"MachineOf":                  "MachineOf",
	"X-ConditionMachineOf":       "MachineOf",
	"MachineMetadata":            "MachineMetadata",
	"X-ConditionMachineMetadata": "MachineMetadata",
	"Conflicts":                  "Conflicts",
	"X-Conflicts":                "Conflicts",
	"Global":                     "Global",
	"Replaces":                   "Replaces",
	// A plain unit's health check (fleethealth.go).
	"HealthCheck":            "Health",
	"HealthCheckInterval":    "Health",
	"HealthCheckTimeout":     "Health",
	"HealthCheckRetries":     "Health",
	"HealthCheckStartPeriod": "Health",
	"HealthCheckOnFailure":   "Health",
	reserveMemoryKey:         reserveMemoryKey,
	reserveCPUKey:            reserveCPUKey,
}

// ParseFleet reads the [X-Fleet] section of f for the unit named n.
//
// Values are whitespace-separated and may also be repeated on several lines;
// double quotes group a value containing spaces (fleet's `"a=b" "c=d"` form).
// An empty assignment (Conflicts=) resets the key, as in systemd. Specifiers
// (%n %N %p %i %%) are expanded with n. What fleet accepts is accepted:
//   - X-ConditionMachineBootID, fleet's deprecated key, as MachineID (fleet
//     compares it with machine IDs too, so it pins to no machine unless it
//     names one);
//   - MachineID by the 8-character short ID (see MatchesMachineID);
//   - MachineMetadata entries fleet ignores ("foo=", "=x", "a=b=c", "foo"),
//     ignored, so a template's MachineMetadata=region=%i is fine; and
//     fleet's comparisons (ram>=1024, disk!=hdd: see MatchesMetadata);
//   - Replaces as a glob, as fleet matches it;
//   - Global=true with Conflicts (fleet >= 1.0: a machine running a unit it
//     conflicts with does not run it).
//
// ReserveMemory= (512M, 2G: see ParseMemory) and ReserveCPU= (1.5, or 150%
// as CPUQuota= writes it) are Flotilla's own: what the unit reserves on its
// machine (Fleet.Reserve). Without them the unit's limits are its
// reservation: [Service] MemoryMax= and CPUQuota=, or a Quadlet
// [Container] Memory=. An empty value resets the key to those.
//
// Errors are *Error with Section "X-Fleet" and the offending field, and say
// what would be accepted:
//   - an unknown key (MachineBootID included: use MachineID);
//   - MachineID with more than one distinct value;
//   - MachineID together with MachineOf (the unit would either follow the
//     other unit or not: use one of them);
//   - MachineOf naming an invalid unit name, a template or the unit itself;
//     Replaces naming an invalid unit name or glob, or a template;
//   - MachineOf naming a unit also excluded by Conflicts or Replaces;
//   - Conflicts not a valid glob;
//   - ReserveMemory or ReserveCPU not an amount;
//   - Global not a boolean (1 yes y true t on / 0 no n false f off), or Global
//     with MachineID, MachineOf or Replaces.
//
// A unit whose Conflicts match its own name is fine: web@.service with
// Conflicts=web@*.service spreads its instances over machines.
func ParseFleet(n Name, f *File) (Fleet, error) {
	var fl Fleet
	unitName := n.String()
	bad := func(field, format string, args ...any) (Fleet, error) {
		return Fleet{}, &Error{Unit: unitName, Section: FleetSection, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	var machineIDs []string
	global := ""
	if f == nil {
		return fl, nil
	}
	for _, o := range f.Options {
		if o.Section != FleetSection {
			continue
		}
		key, ok := fleetKeys[o.Name]
		if !ok {
			if o.Name == "MachineBootID" {
				return bad(o.Name, "boot IDs are not supported: use MachineID")
			}
			return bad(o.Name, "unknown option: [X-Fleet] accepts MachineID, MachineOf, MachineMetadata, Conflicts, Global, Replaces, ReserveMemory, ReserveCPU and HealthCheck, HealthCheckInterval, HealthCheckTimeout, HealthCheckRetries, HealthCheckStartPeriod, HealthCheckOnFailure")
		}
		if key == "Health" {
			continue // ParseFleetHealth, below
		}
		if key == reserveMemoryKey || key == reserveCPUKey {
			continue // parseReserve reads them (the last value wins)
		}
		vals, err := splitValues(o.Value)
		if err != nil {
			return bad(o.Name, "%v", err)
		}
		for i := range vals {
			vals[i] = n.Expand(vals[i])
		}
		switch key {
		case "MachineID":
			if len(vals) == 0 {
				machineIDs = nil
			}
			machineIDs = append(machineIDs, vals...)
		case "MachineOf":
			if len(vals) == 0 {
				fl.MachineOf = nil
			}
			for _, v := range vals {
				if err := checkUnitRef(n, v); err != "" {
					return bad(o.Name, "%s", err)
				}
				fl.MachineOf = appendUnique(fl.MachineOf, v)
			}
		case "Replaces":
			if len(vals) == 0 {
				fl.Replaces = nil
			}
			for _, v := range vals {
				if err := checkReplacesRef(n, v); err != "" {
					return bad(o.Name, "%s", err)
				}
				fl.Replaces = appendUnique(fl.Replaces, v)
			}
		case "Conflicts":
			if len(vals) == 0 {
				fl.Conflicts = nil
			}
			for _, v := range vals {
				if _, err := path.Match(v, ""); err != nil {
					return bad(o.Name, "%q is not a valid glob pattern (path.Match syntax: * ? [a-z] \\)", v)
				}
				fl.Conflicts = appendUnique(fl.Conflicts, v)
			}
		case "MachineMetadata":
			if len(vals) == 0 {
				fl.MachineMetadata = nil
			}
			for _, v := range vals {
				// fleet's RequiredTargetMetadata skips what is not
				// key=value (or key>=value...) with both sides non-empty.
				k, val, ok := splitMetadata(v)
				if !ok {
					continue
				}
				if fl.MachineMetadata == nil {
					fl.MachineMetadata = map[string][]string{}
				}
				fl.MachineMetadata[k] = appendUnique(fl.MachineMetadata[k], val)
			}
		case "Global":
			switch len(vals) {
			case 0:
				global = ""
			case 1:
				global = vals[0]
			default:
				return bad(o.Name, "expected one boolean, got %q", o.Value)
			}
		}
	}

	for _, id := range machineIDs {
		if id != machineIDs[0] {
			return bad("MachineID", "names more than one machine (%s and %s): a unit can be pinned to one machine only", machineIDs[0], id)
		}
	}
	if len(machineIDs) > 0 {
		fl.MachineID = machineIDs[0]
	}
	if global != "" {
		b, ok := ParseBool(global)
		if !ok {
			return bad("Global", "%q is not a boolean: use true or false", global)
		}
		fl.Global = b
	}
	if fl.Global {
		var others []string
		if fl.MachineID != "" {
			others = append(others, "MachineID")
		}
		if len(fl.MachineOf) > 0 {
			others = append(others, "MachineOf")
		}
		if len(fl.Replaces) > 0 {
			others = append(others, "Replaces")
		}
		if len(others) > 0 {
			return bad("Global", "a global unit may only be combined with MachineMetadata and Conflicts, not %s", strings.Join(others, ", "))
		}
	}
	reserve, err := parseReserve(f, n.Expand, func(field, format string, args ...any) error {
		_, err := bad(field, format, args...)
		return err
	})
	if err != nil {
		return Fleet{}, err
	}
	fl.Reserve = reserve
	if fl.MachineID != "" && len(fl.MachineOf) > 0 {
		return bad("MachineOf", "cannot be combined with MachineID=%s: either pin the unit to a machine or let it follow %s", fl.MachineID, fl.MachineOf[0])
	}
	for _, m := range fl.MachineOf {
		if fl.ConflictsWith(m) {
			return bad("MachineOf", "%s is also matched by Conflicts, so the unit could never be placed", m)
		}
		if fl.ReplacesUnit(m) {
			return bad("MachineOf", "%s is also matched by Replaces, so the unit could never be placed", m)
		}
	}
	if _, err := ParseFleetHealth(n, f); err != nil {
		return Fleet{}, err
	}
	return fl, nil
}

// checkUnitRef validates a unit named by MachineOf or Replaces in unit n. In a
// template, %i expands to nothing, so references to templates are let through
// there: each instance is checked again under its own name.
func checkUnitRef(n Name, v string) string {
	rn, err := ParseName(v)
	if err != nil {
		return fmt.Sprintf("%q is not a valid unit name: %s", v, err.(*Error).Msg)
	}
	if rn.IsTemplate() && !n.IsTemplate() {
		return fmt.Sprintf("%q is a template, which is never scheduled: name an instance such as %s", v, rn.Prefix()+"@1."+rn.Suffix())
	}
	if v == n.String() {
		return fmt.Sprintf("a unit cannot name itself (%s)", v)
	}
	return ""
}

// checkReplacesRef validates a Replaces value: a unit name as for MachineOf
// (a unit replacing itself is let through: fleet ignores it, and so does the
// scheduler), or a glob over unit names.
func checkReplacesRef(n Name, v string) string {
	if !strings.ContainsAny(v, `*?[\`) {
		if err := checkUnitRef(n, v); err != "" && v != n.String() {
			return err
		}
		return ""
	}
	if _, err := path.Match(v, ""); err != nil {
		return fmt.Sprintf("%q is not a valid glob pattern (path.Match syntax: * ? [a-z] \\)", v)
	}
	return ""
}

func appendUnique(ss []string, s string) []string {
	if contains(ss, s) {
		return ss
	}
	return append(ss, s)
}

// ParseBool accepts systemd's boolean spellings (1/yes/y/true/t/on and
// 0/no/n/false/f/off, any case).
func ParseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// splitValues splits an option value on whitespace; double quotes group a
// value containing whitespace and are removed.
func splitValues(s string) ([]string, error) {
	var vals []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (r == ' ' || r == '\t'):
			if inWord {
				vals = append(vals, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated double quote in %q", s)
	}
	if inWord {
		vals = append(vals, cur.String())
	}
	// An empty quoted value ("") is not a value.
	out := vals[:0]
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

// Validate checks a unit submitted under name: a valid unit name, a file
// with at least one option that would survive serialisation, and a valid
// [X-Fleet] section. Templates (foo@.service) are valid: they are stored but
// never scheduled; their Fleet is parsed with the template's own name, so %i
// is empty and MachineOf/Replaces may name templates (the engine parses each
// instance under its own name, which checks them for real).
func Validate(name string, f *File) (Name, Fleet, error) {
	n, err := ParseName(name)
	if err != nil {
		return Name{}, Fleet{}, err
	}
	if f == nil || len(f.Options) == 0 {
		return Name{}, Fleet{}, &Error{Unit: name, Msg: "unit file has no options: it needs at least a [Unit] or [Service] section with one Name=Value line"}
	}
	if err := f.Check(name); err != nil {
		return Name{}, Fleet{}, err
	}
	fl, err := ParseFleet(n, f)
	if err != nil {
		return Name{}, Fleet{}, err
	}
	return n, fl, nil
}
