// Command testinit is the /init of the initramfs smoke test: it loads every
// module that /etc/flotilla/modules.load lists, in order, reports each
// failure and a summary on the console, and powers off.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func main() {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fmt.Println("TESTINIT FAIL uname:", err)
		powerOff()
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	f, err := os.Open("/etc/flotilla/modules.load")
	if err != nil {
		fmt.Println("TESTINIT FAIL", err)
		powerOff()
	}
	loaded, absent, failed := 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch err := load(filepath.Join(dir, sc.Text())); err {
		case nil:
			loaded++
		case unix.ENODEV: // no such hardware or firmware (efivarfs without EFI)
			fmt.Printf("TESTINIT MODULE ABSENT %s\n", sc.Text())
			absent++
		default:
			fmt.Printf("TESTINIT MODULE FAIL %s: %v\n", sc.Text(), err)
			failed++
		}
	}
	fmt.Printf("TESTINIT DONE loaded=%d absent=%d failed=%d\n", loaded, absent, failed)
	powerOff()
}

func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

func powerOff() {
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
