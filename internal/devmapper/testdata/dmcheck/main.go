// Command dmcheck is the /init of TestVerityInVM's initramfs: it opens
// /dev/vda through dm-verity with internal/devmapper, reads it whole, flips
// a data byte on the disk below and reads again, printing DMCHECK lines on
// the console, and powers off.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/devmapper"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/verity"
)

// Check is /dmcheck.json: the tree's parameters and the block to flip.
type Check struct {
	Params    verity.Params
	FlipBlock uint64
}

func main() {
	if err := run(); err != nil {
		fmt.Printf("DMCHECK FAIL: %v\n", err)
	} else {
		fmt.Println("DMCHECK PASS")
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
	b, err := os.ReadFile("/dmcheck.json")
	if err != nil {
		return err
	}
	var c Check
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	disk := "/dev/vda"
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(disk); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := c.Params
	target := devmapper.Target{Length: p.Sectors(), Type: "verity", Params: p.Table(disk, disk)}

	// A good device reads whole; the kernel says V.
	dev, err := devmapper.Create("good", true, target)
	if err != nil {
		return err
	}
	fmt.Printf("DMCHECK created %s\n", dev)
	if n, err := readAll(dev); err != nil || n != int64(p.DataBlocks)*verity.BlockSize {
		return fmt.Errorf("read %s: %d bytes, %v", dev, n, err)
	}
	if st, err := devmapper.Status("good"); err != nil || st != "V" {
		return fmt.Errorf("status of good = %q, %v; want V", st, err)
	}
	if typ, line, err := devmapper.TableOf("good"); err != nil || typ != "verity" || !strings.Contains(line, fmt.Sprintf("%x", p.RootHash)) {
		return fmt.Errorf("table of good = %s %q, %v", typ, line, err)
	}
	if err := devmapper.Remove("good"); err != nil {
		return err
	}
	if _, err := devmapper.Status("good"); err == nil {
		return errors.New("good still there after Remove")
	}
	fmt.Println("DMCHECK good device read and removed")

	// One flipped byte on the disk: that block fails its read with EIO,
	// the others still read, and the kernel says C.
	if err := flip(disk, c.FlipBlock); err != nil {
		return err
	}
	dev, err = devmapper.Create("bad", true, target)
	if err != nil {
		return err
	}
	defer devmapper.Remove("bad")
	if f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_DIRECT, 0); err == nil {
		_, werr := f.WriteAt(alignedBlock(1), 0)
		f.Close()
		if werr == nil {
			return errors.New("a write to a read-only verity device succeeded")
		}
		fmt.Printf("DMCHECK write refused: %v\n", werr)
	}
	if err := readBlock(dev, c.FlipBlock-1); err != nil {
		return fmt.Errorf("block %d before the flipped one: %w", c.FlipBlock-1, err)
	}
	err = readBlock(dev, c.FlipBlock)
	if !errors.Is(err, unix.EIO) {
		return fmt.Errorf("flipped block %d: read error %v, want EIO", c.FlipBlock, err)
	}
	fmt.Printf("DMCHECK flipped block %d: %v\n", c.FlipBlock, err)
	if st, err := devmapper.Status("bad"); err != nil || st != "C" {
		return fmt.Errorf("status of bad = %q, %v; want C", st, err)
	}
	return nil
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

func readAll(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := alignedBlock(256)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if k == 0 || err != nil {
			if err != nil && err.Error() == "EOF" {
				err = nil
			}
			return n, err
		}
	}
}

func readBlock(path string, blk uint64) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = unix.Pread(int(f.Fd()), alignedBlock(1), int64(blk*verity.BlockSize))
	return err
}

func flip(disk string, blk uint64) error {
	f, err := os.OpenFile(disk, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := alignedBlock(1)
	off := int64(blk * verity.BlockSize)
	if _, err := unix.Pread(int(f.Fd()), b, off); err != nil {
		return err
	}
	b[100] ^= 0x40
	if _, err := unix.Pwrite(int(f.Fd()), b, off); err != nil {
		return err
	}
	return f.Sync()
}

// alignedBlock is n 4 KiB blocks aligned for O_DIRECT.
func alignedBlock(n int) []byte {
	b := make([]byte, (n+1)*verity.BlockSize)
	off := 0
	for uintptr(unsafe.Pointer(&b[off]))%verity.BlockSize != 0 {
		off++
	}
	return b[off : off+n*verity.BlockSize]
}
