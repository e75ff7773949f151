package unit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Expand replaces fleet's specifiers in s with parts of n, in one pass:
//
//	%n  the full name              web@1.service
//	%N  the name without suffix    web@1
//	%p  the prefix                 web  (db for db.service)
//	%i  the instance               1    (empty for plain units and templates)
//	%%  a literal %
//
// Any other %x, and a trailing %, is left as it is (systemd has many more
// specifiers; they are for systemd to expand on the machine, not for us).
func (n Name) Expand(s string) string {
	out, _ := expand(s, func(c byte) (string, error) {
		switch c {
		case 'n', 'N', 'p', 'i', '%':
			return nameSpecifier(n.full, c), nil
		}
		return "", errUnknown
	}, false)
	return out
}

// Specifiers are what a unit's specifiers expand to on the machine that
// runs it: the unit manager's grammar ([Service] and [Container] values).
type Specifiers struct {
	Name      string // the full unit name, e.g. "web@1.service"
	MachineID string // %m
	Hostname  string // %H
}

// Lookup returns the value of specifier letter c: %n %N %p %i as in
// Name.Expand, %I the instance unescaped ("-" is "/", \xNN a byte), %m,
// %H and %%. Any other letter is an error naming the supported ones.
func (sp Specifiers) Lookup(c byte) (string, error) {
	switch c {
	case 'n', 'N', 'p', 'i', 'I', '%':
		return nameSpecifier(sp.Name, c), nil
	case 'm':
		return sp.MachineID, nil
	case 'H':
		return sp.Hostname, nil
	}
	return "", fmt.Errorf("unsupported specifier %%%c (supported: %%n %%N %%p %%i %%I %%m %%H %%%%)", c)
}

// Expand resolves the specifiers in a whole value (no word splitting).
// Unlike Name.Expand it is strict: an unsupported specifier, or a % at the
// end of the value, is an error.
func (sp Specifiers) Expand(s string) (string, error) {
	return expand(s, sp.Lookup, true)
}

// errUnknown marks a letter that a lenient expansion leaves as it is.
var errUnknown = errors.New("unit: unknown specifier")

// expand is the one specifier expander. lookup gives a letter's value;
// strict makes a lookup error, or a trailing %, the result's error, where
// otherwise the %x (or the %) is kept as it is.
func expand(s string, lookup func(byte) (string, error), strict bool) (string, error) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) + 32)
	for i >= 0 {
		b.WriteString(s[:i])
		if i+1 >= len(s) {
			if strict {
				return "", fmt.Errorf("%% at end of value (write %%%% for a literal %%)")
			}
			b.WriteByte('%')
			s = ""
			break
		}
		v, err := lookup(s[i+1])
		switch {
		case err == nil:
			b.WriteString(v)
		case strict:
			return "", err
		default:
			b.WriteString(s[i : i+2])
		}
		s = s[i+2:]
		i = strings.IndexByte(s, '%')
	}
	b.WriteString(s)
	return b.String(), nil
}

// nameSpecifier computes %n %N %p %i %I and %% from a unit name. For a
// valid Name the parts are those of its methods (Base, Prefix, Instance).
func nameSpecifier(name string, c byte) string {
	base := name
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	prefix, instance, _ := strings.Cut(base, "@")
	switch c {
	case 'n':
		return name
	case 'N':
		return base
	case 'p':
		return prefix
	case 'i':
		return instance
	case 'I':
		return unescapeUnitName(instance)
	case '%':
		return "%"
	}
	return ""
}

// unescapeUnitName undoes systemd's unit-name escaping: "-" is "/", \xNN a byte.
func unescapeUnitName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '-':
			b.WriteByte('/')
		case s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x':
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// SubmitSpecifiers are the specifiers a unit is checked with when it is
// submitted, away from the machine that will run it: the values that depend
// on that machine (%m, %H) are placeholders, which cannot make a unit
// invalid.
func SubmitSpecifiers(name string) Specifiers {
	return Specifiers{Name: name, MachineID: "00000000000000000000000000000000", Hostname: "localhost"}
}
