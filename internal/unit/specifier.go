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
// See Lookup for the table.
type Specifiers struct {
	Name      string // the full unit name, e.g. "web@1.service"
	MachineID string // %m
	Hostname  string // %H, and %l up to its first dot
	// Host holds the node's other facts (%b %v %a %q and os-release's
	// %o %w %B %W %M %A). nil means this machine's, read once (LocalHost).
	Host *Host
}

// SpecifierLetters are the letters Lookup knows, in systemd.unit(5)'s order.
const SpecifierLetters = "abABCdDEfgGhHiIjJlLmMnNopPqsStTuUvVwW"

// Lookup returns the value of specifier letter c as systemd gives it to a
// system service (the manager runs as root):
//
//	%n %N %p %i   name, name without suffix, prefix, instance
//	%I %P %f      instance and prefix unescaped ("-" is "/", \xNN a byte);
//	              %f is "/" + the unescaped instance, or prefix without one
//	%j %J         the prefix's last "-" component, raw and unescaped
//	%m %H %l %q   machine ID, hostname, short hostname, pretty hostname
//	              (/etc/machine-info PRETTY_HOSTNAME, else the hostname)
//	%b %v %a      boot ID, kernel release, architecture (x86-64, arm64...)
//	%o %w %B %W   os-release ID, VERSION_ID, BUILD_ID, VARIANT_ID
//	%M %A         os-release IMAGE_ID, IMAGE_VERSION (empty when unset)
//	%u %U %g %G   root 0 root 0: the manager's user and group
//	%h %s         /root /bin/sh: the manager's home and shell
//	%t %S %C %L   /run /var/lib /var/cache /var/log
//	%E %T %V %D   /etc /tmp /var/tmp /usr/share
//	%d            /run/credentials/<unit name>
//	%%            a literal %
//
// Any other letter or digit is an error naming the supported ones, as
// systemd refuses an unknown specifier (EBADSLT). systemd also knows %y
// and %Y (the unit file's path and directory) and the deprecated cgroup
// specifiers %c %r %R: they are refused with a reason, as a unit has no
// file on the node and no cgroup of systemd's layout.
func (sp Specifiers) Lookup(c byte) (string, error) {
	switch c {
	case 'n', 'N', 'p', 'i', 'I', 'P', 'f', 'j', 'J', '%':
		return nameSpecifier(sp.Name, c), nil
	case 'm':
		return sp.MachineID, nil
	case 'H':
		return sp.Hostname, nil
	case 'l':
		short, _, _ := strings.Cut(sp.Hostname, ".")
		return short, nil
	case 'q':
		if h := sp.host().PrettyHostname; h != "" {
			return h, nil
		}
		return sp.Hostname, nil
	case 'b':
		return sp.host().BootID, nil
	case 'v':
		return sp.host().KernelRelease, nil
	case 'a':
		return sp.host().Arch, nil
	case 'o', 'w', 'B', 'W', 'M', 'A':
		return sp.host().OSRelease[osReleaseKeys[c]], nil
	case 'u', 'g':
		return "root", nil
	case 'U', 'G':
		return "0", nil
	case 'h':
		return "/root", nil
	case 's':
		return "/bin/sh", nil
	case 'd':
		return "/run/credentials/" + sp.Name, nil
	}
	if d, ok := systemDirs[c]; ok {
		return d, nil
	}
	switch c {
	case 'y', 'Y':
		return "", fmt.Errorf("specifier %%%c (the unit file's path) has no meaning here: units are not files on the node", c)
	case 'c', 'r', 'R':
		return "", fmt.Errorf("specifier %%%c (a cgroup path, deprecated in systemd) has no meaning here: units have no cgroup of systemd's layout", c)
	}
	return "", fmt.Errorf("unsupported specifier %%%c (supported: %s, and %%%% for a literal %%)", c, letterList())
}

// osReleaseKeys maps a specifier to the os-release field it reads.
var osReleaseKeys = map[byte]string{
	'o': "ID", 'w': "VERSION_ID", 'B': "BUILD_ID", 'W': "VARIANT_ID", 'M': "IMAGE_ID", 'A': "IMAGE_VERSION",
}

// systemDirs are the system manager's directories.
var systemDirs = map[byte]string{
	't': "/run", 'S': "/var/lib", 'C': "/var/cache", 'L': "/var/log",
	'E': "/etc", 'T': "/tmp", 'V': "/var/tmp", 'D': "/usr/share",
}

func letterList() string {
	var b strings.Builder
	for i := 0; i < len(SpecifierLetters); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('%')
		b.WriteByte(SpecifierLetters[i])
	}
	return b.String()
}

func (sp Specifiers) host() *Host {
	if sp.Host != nil {
		return sp.Host
	}
	return LocalHost()
}

// Expand resolves the specifiers in a whole value (no word splitting) by
// systemd's specifier_printf rules: %% is %, a known letter its value, an
// unknown letter or digit an error, and a % before anything else ("%{",
// "%,", "% ") or at the end of the value is kept as it is.
func (sp Specifiers) Expand(s string) (string, error) {
	return expand(s, sp.Lookup, true)
}

// errUnknown marks a letter that a lenient expansion leaves as it is.
var errUnknown = errors.New("unit: unknown specifier")

// expandWord expands the specifiers of one word with spec (strict); nil
// spec expands nothing.
func expandWord(w string, spec func(byte) (string, error)) (string, error) {
	if spec == nil {
		return w, nil
	}
	return expand(w, spec, true)
}

// isSpecifierChar reports whether %c is a specifier, known or not, in
// systemd's eyes (POSSIBLE_SPECIFIERS: letters, digits and %).
func isSpecifierChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%'
}

// expand is the one specifier expander. lookup gives a letter's value;
// strict makes a lookup error the result's error, where otherwise the %x is
// kept as it is. A % before a character that cannot be a specifier, or at
// the end, is kept in both modes, as systemd keeps it.
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
			b.WriteByte('%')
			s = ""
			break
		}
		c := s[i+1]
		if !isSpecifierChar(c) {
			b.WriteString(s[i : i+2])
			s = s[i+2:]
			i = strings.IndexByte(s, '%')
			continue
		}
		v, err := lookup(c)
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

// nameSpecifier computes %n %N %p %i %I %P %f %j %J and %% from a unit
// name. For a valid Name the parts are those of its methods (Base, Prefix,
// Instance).
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
	case 'P':
		return unescapeUnitName(prefix)
	case 'f':
		if instance != "" {
			return unescapePath(instance)
		}
		return unescapePath(prefix)
	case 'j', 'J':
		last := prefix
		if k := strings.LastIndexByte(prefix, '-'); k >= 0 {
			last = prefix[k+1:]
		}
		if c == 'J' {
			return unescapeUnitName(last)
		}
		return last
	case '%':
		return "%"
	}
	return ""
}

// unescapePath is systemd's unit_name_path_unescape: the unescaped name as
// an absolute path ("-" alone, or nothing, is "/").
func unescapePath(s string) string {
	if s == "" || s == "-" {
		return "/"
	}
	p := unescapeUnitName(s)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
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
// submitted, away from the machine that will run it: the values that
// depend on that machine (%m %H %b %v %a, os-release) are placeholders,
// which cannot make a unit invalid. The set of valid letters is the node's.
func SubmitSpecifiers(name string) Specifiers {
	return Specifiers{Name: name, MachineID: "00000000000000000000000000000000", Hostname: "localhost", Host: &submitHost}
}

var submitHost = Host{
	BootID: "00000000000000000000000000000000", KernelRelease: "0.0.0", Arch: "x86-64",
	OSRelease: map[string]string{"ID": "flotilla"},
}
