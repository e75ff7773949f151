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
	loaded, failed := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if err := load(filepath.Join(dir, sc.Text())); err != nil {
			fmt.Printf("TESTINIT MODULE FAIL %s: %v\n", sc.Text(), err)
			failed++
			continue
		}
		loaded++
	}
	fmt.Printf("TESTINIT DONE loaded=%d failed=%d\n", loaded, failed)
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
