// Command verityread is the /init of BenchmarkVerityRead's VM: it reads
// /big (100 MB) from the squashfs on /dev/vda mounted plainly and through
// dm-verity, alternating, each time from a cold cache, prints the rates
// as VERITYREAD lines and powers off.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/devmapper"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/verity"
)

func main() {
	if err := run(); err != nil {
		fmt.Printf("VERITYREAD FAIL: %v\n", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func run() error {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	if err := loadModules(); err != nil {
		return err
	}
	b, err := os.ReadFile("/verity.json")
	if err != nil {
		return err
	}
	var p verity.Params
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	disk := "/dev/vda"
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(disk); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.MkdirAll("/mnt", 0o755)
	rounds := 3
	for i := 0; i < rounds; i++ {
		for _, verified := range []bool{false, true} {
			dev := disk
			if verified {
				if dev, err = devmapper.Create("root", true, devmapper.Target{
					Length: p.Sectors(), Type: "verity", Params: p.Table(disk, disk)}); err != nil {
					return err
				}
			}
			d, n, err := readCold(dev)
			if verified {
				if rerr := devmapper.Remove("root"); err == nil {
					err = rerr
				}
			}
			if err != nil {
				return err
			}
			fmt.Printf("VERITYREAD verified=%v bytes=%d seconds=%.4f\n", verified, n, d.Seconds())
		}
	}
	fmt.Println("VERITYREAD DONE")
	return nil
}

// readCold drops the caches, mounts dev, reads /big whole and unmounts.
func readCold(dev string) (time.Duration, int64, error) {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return 0, 0, err
	}
	if err := unix.Mount(dev, "/mnt", "squashfs", unix.MS_RDONLY, ""); err != nil {
		return 0, 0, fmt.Errorf("mount %s: %w", dev, err)
	}
	defer unix.Unmount("/mnt", 0)
	f, err := os.Open("/mnt/big")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	return time.Since(start), n, err
}

func loadModules() error {
	f, err := os.Open("/" + node.ModulesList)
	if err != nil {
		return err
	}
	defer f.Close()
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	dir := filepath.Join("/lib/modules", strings.TrimSpace(string(rel)))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, err := os.Open(filepath.Join(dir, sc.Text()))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(m.Fd()), "", 0)
		m.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load %s: %w", sc.Text(), err)
		}
	}
	return sc.Err()
}
