package unit

import (
	"os"
	"runtime"
	"strings"
	"sync"
)

// Host is what the node-dependent specifiers expand to, besides the
// machine ID and hostname: see Specifiers.Lookup.
type Host struct {
	BootID         string            // %b: /proc/sys/kernel/random/boot_id without dashes
	KernelRelease  string            // %v: /proc/sys/kernel/osrelease (uname -r)
	Arch           string            // %a: systemd's architecture name
	PrettyHostname string            // %q: /etc/machine-info PRETTY_HOSTNAME
	OSRelease      map[string]string // %o %w %B %W %M %A: /etc/os-release, else /usr/lib/os-release
}

var (
	localOnce sync.Once
	localHost Host
)

// LocalHost returns this machine's Host, read once per process: the
// values cannot change before the next boot (os-release changes with an
// update, which takes a reboot). Files that cannot be read give empty
// values, as systemd gives an empty string for a missing os-release field.
// It is the only I/O of this package.
func LocalHost() *Host {
	localOnce.Do(func() { localHost = readHost("/") })
	return &localHost
}

// readHost reads the Host of the system rooted at root.
func readHost(root string) Host {
	read := func(p string) string {
		b, err := os.ReadFile(root + p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	h := Host{
		BootID:        strings.ReplaceAll(read("proc/sys/kernel/random/boot_id"), "-", ""),
		KernelRelease: read("proc/sys/kernel/osrelease"),
		Arch:          systemdArch(runtime.GOARCH),
	}
	h.PrettyHostname = ParseEnvFile(read("etc/machine-info"))["PRETTY_HOSTNAME"]
	osr := read("etc/os-release")
	if osr == "" {
		osr = read("usr/lib/os-release")
	}
	h.OSRelease = ParseEnvFile(osr)
	return h
}

// systemdArch maps a Go GOARCH to systemd's architecture name (%a, and
// ConditionArchitecture=).
func systemdArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86-64"
	case "386":
		return "x86"
	case "ppc64le":
		return "ppc64-le"
	case "mips64le":
		return "mips64-le"
	case "mipsle":
		return "mips-le"
	case "loong64":
		return "loongarch64"
	}
	return goarch // arm64, arm, riscv64, s390x, ppc64 are spelt alike
}

// ParseEnvFile reads the KEY=value lines of an os-release style file:
// '#' comment lines, values optionally in single or double quotes (in
// double quotes, \" \\ \$ and \` are escapes). Malformed lines are skipped.
func ParseEnvFile(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		m[strings.TrimSpace(k)] = unquoteEnvValue(strings.TrimSpace(v))
	}
	return m
}

func unquoteEnvValue(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		r := strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`")
		return r.Replace(v[1 : len(v)-1])
	}
	return v
}
