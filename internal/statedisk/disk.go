package statedisk

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/node"
)

// Partition names on a Flotilla disk (the GPT's partition names; see
// internal/diskimage).
const (
	PartESP   = "ESP"
	PartState = "STATE"
)

// Disk is the disk holding the booted slot, found through sysfs.
type Disk struct {
	Dev   string            // whole disk, /dev/vda
	Name  string            // vda
	Parts map[string]string // partition name -> /dev/vda2
}

// FindDisk scans sysBlock (/sys/class/block) once for a partition named
// part (PARTNAME= in its uevent) and returns its disk with every named
// partition on it. It returns nil when part is not there (yet).
func FindDisk(sysBlock, part string) (*Disk, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, err
	}
	type pinfo struct{ name, dev, disk string }
	var all []pinfo
	var disk string
	for _, e := range ents {
		ue := diskimage.ReadUevent(filepath.Join(sysBlock, e.Name(), "uevent"))
		if ue["DEVTYPE"] != "partition" || ue["PARTNAME"] == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(filepath.Join(sysBlock, e.Name()))
		if err != nil {
			continue
		}
		p := pinfo{name: ue["PARTNAME"], dev: "/dev/" + ue["DEVNAME"], disk: filepath.Base(filepath.Dir(real))}
		all = append(all, p)
		if p.name == part && disk == "" {
			disk = p.disk
		}
	}
	if disk == "" {
		return nil, nil
	}
	d := &Disk{Dev: "/dev/" + disk, Name: disk, Parts: map[string]string{}}
	for _, p := range all {
		if p.disk == disk {
			d.Parts[p.name] = p.dev
		}
	}
	return d, nil
}

// WaitDisk polls FindDisk every 100 ms until the disk holding part also
// shows every name in need, or ctx ends; the error then lists what the
// kernel does show, which is what one needs to see on a console.
func WaitDisk(ctx context.Context, sysBlock, part string, need ...string) (*Disk, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		d, err := FindDisk(sysBlock, part)
		if err == nil && d != nil && hasAll(d, need) {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no disk with partitions %s and %s after waiting (block devices: %s): is the disk attached, and are its driver modules in %s?",
				part, strings.Join(need, ", "), listBlock(sysBlock), "/"+node.ModulesList)
		case <-t.C:
		}
	}
}

func hasAll(d *Disk, names []string) bool {
	for _, n := range names {
		if d.Parts[n] == "" {
			return false
		}
	}
	return true
}

func listBlock(sysBlock string) string {
	ents, _ := os.ReadDir(sysBlock)
	var out []string
	for _, e := range ents {
		s := e.Name()
		if pn := diskimage.ReadUevent(filepath.Join(sysBlock, e.Name(), "uevent"))["PARTNAME"]; pn != "" {
			s += "(" + pn + ")"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// BlockSize is a block device's size in bytes, from sysfs (512-byte
// sectors), e.g. BlockSize("/sys/class/block", "vda4").
func BlockSize(sysBlock, name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(sysBlock, name, "size"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n * 512, err
}

// RereadPartitions asks the kernel to reread dev's partition table
// (diskimage.ReReadPartitions); nothing on the disk may be mounted.
func RereadPartitions(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return diskimage.ReReadPartitions(f)
}

// Ext4Size reads dev's ext4 superblock and returns the file system's size
// in bytes; ok is false when there is no ext4 (or ext2/3) superblock.
func Ext4Size(dev string) (size int64, ok bool, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, false, fmt.Errorf("read superblock of %s: %w", dev, err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xEF53 {
		return 0, false, nil
	}
	blocks := uint64(le.Uint32(sb[0x4:]))
	if le.Uint32(sb[0x60:])&0x80 != 0 { // INCOMPAT_64BIT
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	logBlock := le.Uint32(sb[0x18:])
	if logBlock > 6 {
		return 0, false, fmt.Errorf("%s: ext4 superblock has block size 1024<<%d: corrupt", dev, logBlock)
	}
	return int64(blocks) * (1024 << logBlock), true, nil
}

// StateAction decides what to do with STATE: "fresh" (format it), "grown"
// (grow the file system online to fill the partition) or "existing".
// A file system within 1 MiB of the partition is left alone.
func StateAction(partBytes, fsBytes int64, isExt4 bool) string {
	switch {
	case !isExt4:
		return "fresh"
	case partBytes-fsBytes > 1<<20:
		return "grown"
	default:
		return "existing"
	}
}
