package statedisk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/diskimage"
)

// SysBlock is where the kernel lists block devices.
const SysBlock = "/sys/class/block"

// GrowPartition grows the last partition (STATE) of d to fill the disk and
// has the kernel reread the table, then finds the disk again (holding the
// partition root) so the returned Disk names the new devices. Nothing on d
// may be mounted: it is the only moment to rewrite its GPT. A failure to
// grow is logged and d is returned as it was; the node boots with STATE as
// it is.
func GrowPartition(ctx context.Context, sysBlock string, d *Disk, root string, logf func(string, ...any)) *Disk {
	grown, err := diskimage.GrowLastPartition(d.Dev)
	if err != nil {
		logf("flotilla: grow %s on %s: %v (booting with it as it is)", PartState, d.Dev, err)
		return d
	}
	if !grown {
		return d
	}
	if err := RereadPartitions(d.Dev); err != nil {
		logf("flotilla: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if nd, err := WaitDisk(ctx, sysBlock, root, PartState); err == nil {
		d = nd
	}
	logf("flotilla: %s partition grown to fill %s", PartState, d.Dev)
	return d
}

// Prepare readies STATE's file system on dev (a partition named in
// sysBlock) before it is mounted, and returns StateAction's verdict:
// "fresh" after formatting it ext4 (it held none), "grown" when the
// mounted file system must then be grown with Resize, or "existing".
func Prepare(sysBlock, dev string) (string, error) {
	part, err := BlockSize(sysBlock, filepath.Base(dev))
	if err != nil {
		return "", fmt.Errorf("%s: size: %w", dev, err)
	}
	fsSize, isExt4, err := Ext4Size(dev)
	if err != nil {
		return "", err
	}
	how := StateAction(part, fsSize, isExt4)
	if how == "fresh" {
		if err := run("mke2fs", "-t", "ext4", "-L", PartState, "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", dev); err != nil {
			return "", err
		}
	}
	return how, nil
}

// Resize grows STATE's ext4 on dev to fill its partition (online, once it
// is mounted).
func Resize(dev string) error { return run("resize2fs", dev) }

// run runs a tool from the root and waits for it (no reaper may be alive
// yet).
func run(name string, args ...string) error {
	path := name
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			path = filepath.Join(dir, name)
			break
		}
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
