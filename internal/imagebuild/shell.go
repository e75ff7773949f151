package imagebuild

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"strings"

	"github.com/flotilla-os/flotilla/internal/diskimage"
)

// busyboxSrc is Debian's busybox-static on the build host: one static
// binary whose applets give the root a POSIX shell and the tools that
// fleet units' ExecStart=/bin/sh -c lines use.
const busyboxSrc = "/bin/busybox"

// shellApplets are the busybox applets linked into /usr/bin (and so /bin,
// a link to usr/bin as on CoreOS and merged-/usr Debian): sh and what shell
// lines of units and their health checks commonly call. Not the whole
// busybox: init, mount, ip, reboot and the like stay init's and fleetd's,
// and u-root's debug tools keep to /bbin.
var shellApplets = []string{
	"sh", "[", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dirname",
	"echo", "env", "expr", "false", "grep", "head", "hostname", "id", "kill",
	"ln", "ls", "mkdir", "mktemp", "mv", "printf", "ps", "pwd", "readlink",
	"rm", "rmdir", "sed", "seq", "sleep", "sort", "tail", "tee", "test",
	"timeout", "touch", "tr", "true", "uname", "uniq", "wc", "wget", "xargs",
}

// addShell puts busybox at /usr/bin/busybox with a link per shell applet,
// and /bin as a link to usr/bin, so /bin/sh, /bin/sleep and /usr/bin/sleep
// all resolve.
func addShell(t *diskimage.Tree) error {
	if err := mustExist(busyboxSrc, "busybox-static"); err != nil {
		return err
	}
	if err := mustBeStatic(busyboxSrc); err != nil {
		return err
	}
	out, err := exec.Command(busyboxSrc, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %v (install Debian's busybox-static)", busyboxSrc, err)
	}
	have := map[string]bool{}
	for _, a := range strings.Fields(string(out)) {
		have[a] = true
	}
	if err := t.AddFile("/usr/bin/busybox", busyboxSrc, 0o755); err != nil {
		return err
	}
	for _, a := range shellApplets {
		if !have[a] {
			return fmt.Errorf("%s has no %s applet: install Debian's busybox-static", busyboxSrc, a)
		}
		if err := t.AddSymlink("/usr/bin/"+a, "busybox"); err != nil {
			return err
		}
	}
	return t.AddSymlink("/bin", "usr/bin")
}

// mustBeStatic refuses a dynamically linked file: the root carries only
// the libraries hostTools need.
func mustBeStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install Debian's busybox-static, not busybox", path)
		}
	}
	return nil
}
