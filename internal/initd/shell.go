package initd

import (
	"fmt"
	"os"
	"syscall"
)

// Shells are tried in order for the debug shell: u-root's gosh as the
// initramfs's busybox lays it out (/bbin), then the usual places.
var Shells = []string{"/bbin/gosh", "/bin/gosh", "/bin/sh", "/bbin/elvish"}

// FindShell returns the first shell present, or "".
func FindShell() string {
	for _, s := range Shells {
		if st, err := os.Stat(s); err == nil && !st.IsDir() {
			return s
		}
	}
	return ""
}

// shellEnv is the debug shell's environment.
var shellEnv = []string{"PATH=/bbin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux"}

// StartShell starts the debug shell on tty as a session leader with tty as
// its controlling terminal. The caller waits for it (or its reaper does).
func StartShell(tty string) (*os.Process, error) {
	sh := FindShell()
	if sh == "" {
		return nil, fmt.Errorf("no debug shell: none of %v exists", Shells)
	}
	f, err := os.OpenFile(tty, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("debug shell: open %s: %w", tty, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "flotilla: debug shell %s on %s ('%s poweroff' or '%s reboot' to leave)\n", sh, tty, SelfPath(), SelfPath())
	return os.StartProcess(sh, []string{"gosh"}, &os.ProcAttr{
		Dir:   "/",
		Env:   shellEnv,
		Files: []*os.File{f, f, f},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	})
}

// consoleShell is "init console-shell TTY": the debug shell as a service
// of init's supervisor. The supervisor makes each process a group leader,
// which cannot setsid, so this helper starts the shell as its own child
// and waits for it (this process has no reaper of its own).
func consoleShell(args []string) int {
	tty := "/dev/console"
	if len(args) > 0 {
		tty = args[0]
	}
	p, err := StartShell(tty)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := p.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return st.ExitCode()
}

// SelfPath is how the running init can be invoked again: /sbin/init on
// the root, /init in the initramfs.
func SelfPath() string {
	if _, err := os.Stat("/sbin/init"); err == nil {
		return "/sbin/init"
	}
	return "/init"
}
