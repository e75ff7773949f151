package native

import (
	"fmt"
	"strconv"
	"strings"
)

// expander resolves systemd specifiers for one unit: %n %N %p %i %I %m %H %%.
type expander struct {
	name      string // full unit name, e.g. "web@1.service"
	machineID string
	hostname  string
	// submit: parsing for Validate on whichever node took the request,
	// not on the node that will run the unit; files the unit names on
	// its own node (SeccompProfile=) are not read.
	submit bool
}

// spec returns the value of specifier letter c.
func (e *expander) spec(c byte) (string, error) {
	base := e.name
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	prefix, instance, _ := strings.Cut(base, "@")
	switch c {
	case 'n':
		return e.name, nil
	case 'N':
		return base, nil
	case 'p':
		return prefix, nil
	case 'i':
		return instance, nil
	case 'I':
		return unescapeUnitName(instance), nil
	case 'm':
		return e.machineID, nil
	case 'H':
		return e.hostname, nil
	case '%':
		return "%", nil
	}
	return "", fmt.Errorf("unsupported specifier %%%c (supported: %%n %%N %%p %%i %%I %%m %%H %%%%)", c)
}

// expand resolves the specifiers in a whole value (no word splitting).
func (e *expander) expand(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%% at end of value (write %%%% for a literal %%)")
		}
		v, err := e.spec(s[i+1])
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i++
	}
	return b.String(), nil
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
