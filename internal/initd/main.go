package initd

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// BrokenOnPurpose, set at link time (image-build's test-only BrokenInit
// option), makes PID 1 panic at once: the qemu-test of a bad update uses it
// to check that systemd-boot falls back to the previous version.
var BrokenOnPurpose string

// Main is the whole program: stage 1 or stage 2 as PID 1, a command
// otherwise. It returns the exit code of a command; as PID 1 it never
// returns.
func Main(args []string) int {
	if os.Getpid() == 1 {
		ensureConsole()
		if BrokenOnPurpose != "" {
			panic("flotilla: this init was built broken on purpose (" + BrokenOnPurpose + ")")
		}
		if InInitramfs() {
			stage1()
		} else {
			stage2()
		}
		select {} // not reached: the stages end in exec, reboot or a fatal loop
	}
	if len(args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s reboot|poweroff|halt\n  (as PID 1 it boots Flotilla; run as a command it asks PID 1 to end the machine)\n", args[0])
		return 2
	}
	switch args[1] {
	case "console-shell":
		return consoleShell(args[2:])
	case "-h", "--help", "help":
		fmt.Printf("usage: %s reboot|poweroff|halt\n", args[0])
		return 0
	}
	a, err := ParseAction(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", args[0], err)
		return 2
	}
	if err := Signal(1, a); err != nil {
		fmt.Fprintf(os.Stderr, "%s: signal PID 1: %v\n", args[0], err)
		return 1
	}
	return 0
}

// InInitramfs reports whether / is the initramfs (rootfs: ramfs or tmpfs).
func InInitramfs() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// ensureConsole gives PID 1 stdin, stdout and stderr on /dev/console when
// the kernel could not (an initramfs without /dev/console).
func ensureConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil && unix.Fstat(2, &st) == nil {
		return
	}
	unix.Mkdir("/dev", 0o755)
	unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755")
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		unix.Dup3(fd, i, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}
