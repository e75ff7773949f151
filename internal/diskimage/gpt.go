package diskimage

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// MiB is a mebibyte; partitions start and end on MiB boundaries.
const MiB = 1 << 20

// SectorSize is the logical sector size of the disks Disk writes and
// GrowLastPartition accepts.
const SectorSize = 512

// GPT partition names (labels) of a Flotilla disk, in disk order.
const (
	NameESP   = "ESP"
	NameRootA = "ROOT-A"
	NameRootB = "ROOT-B"
	NameState = "STATE"
)

// Partition type GUIDs from the Discoverable Partitions Specification.
const (
	TypeESP        = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" // EFI system partition
	TypeRootX86_64 = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" // root, x86-64 (ROOT-A, ROOT-B)
	TypeVar        = "4D21B016-B534-45C2-A9FB-5C16E091FD2D" // /var (STATE)
)

// Layout holds the partition sizes of a Flotilla disk in bytes (multiples of MiB).
type Layout struct {
	ESP   int64
	Root  int64 // each of ROOT-A and ROOT-B
	State int64 // at build time; grown to fill the disk on first boot
}

// DefaultLayout keeps the whole disk under 1 GiB (898 MiB).
var DefaultLayout = Layout{ESP: 128 * MiB, Root: 256 * MiB, State: 256 * MiB}

// Parts returns the partition table of a Flotilla disk: ESP, ROOT-A, ROOT-B,
// STATE, with the given image files as contents ("" leaves a partition
// zeroed and sparse).
func (l Layout) Parts(esp, rootA, rootB string) []Part {
	return []Part{
		{Name: NameESP, Type: TypeESP, Size: l.ESP, Content: esp},
		{Name: NameRootA, Type: TypeRootX86_64, Size: l.Root, Content: rootA},
		{Name: NameRootB, Type: TypeRootX86_64, Size: l.Root, Content: rootB},
		{Name: NameState, Type: TypeVar, Size: l.State},
	}
}

// Part is one GPT partition for Disk.
type Part struct {
	Name       string // GPT partition name (label), at most 36 UTF-16 code units
	Type       string // partition type GUID
	Size       int64  // bytes, a multiple of MiB
	Content    string // file copied to the partition's start, holes kept; "" = none
	Attributes uint64 // GPT attribute bits
}

// DiskOptions tune Disk.
type DiskOptions struct {
	// Seed makes the disk and partition GUIDs (e.g. the OS version). Two
	// disks from the same seed and parts are byte-identical.
	Seed string
	// Logf, if set, gets progress lines.
	Logf func(format string, args ...any)
}

// DiskSize is the size of the disk Disk writes for parts: 1 MiB for the MBR
// and primary GPT, the partitions, 1 MiB for the backup GPT.
func DiskSize(parts []Part) int64 {
	size := int64(2 * MiB)
	for _, p := range parts {
		size += p.Size
	}
	return size
}

// GUID derives a GUID (random-looking, version 4 layout) from seed and what.
func GUID(seed, what string) string {
	h := sha256.Sum256([]byte("flotilla-diskimage\x00" + seed + "\x00" + what))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// isGUID reports whether s looks like XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}

// Disk writes a sparse GPT disk image to out: a protective MBR, the
// partitions in order from 1 MiB on, each MiB-aligned, and both GPTs.
// Partition contents are copied without writing zero blocks, so empty space
// stays a hole in out.
func Disk(out string, parts []Part, o DiskOptions) (err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if len(parts) == 0 {
		return fmt.Errorf("diskimage: disk %s: no partitions", out)
	}
	table := &gpt.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		ProtectiveMBR:      true,
		GUID:               GUID(o.Seed, "disk"),
	}
	start := int64(MiB)
	for i, p := range parts {
		if p.Size <= 0 || p.Size%MiB != 0 {
			return fmt.Errorf("diskimage: disk %s: partition %d (%s): size %d is not a positive multiple of 1 MiB", out, i+1, p.Name, p.Size)
		}
		if !isGUID(p.Type) {
			return fmt.Errorf("diskimage: disk %s: partition %d (%s): type %q is not a GUID", out, i+1, p.Name, p.Type)
		}
		if p.Content != "" {
			fi, err := os.Stat(p.Content)
			if err != nil {
				return fmt.Errorf("diskimage: disk %s: partition %d (%s): %w", out, i+1, p.Name, err)
			}
			if fi.Size() > p.Size {
				return fmt.Errorf("diskimage: disk %s: partition %d (%s): %s is %d bytes, more than the partition's %d: enlarge the layout", out, i+1, p.Name, p.Content, fi.Size(), p.Size)
			}
		}
		table.Partitions = append(table.Partitions, &gpt.Partition{
			Index:      i + 1,
			Start:      uint64(start / SectorSize),
			End:        uint64((start+p.Size)/SectorSize - 1),
			Size:       uint64(p.Size),
			Type:       gpt.Type(strings.ToUpper(p.Type)),
			Name:       p.Name,
			GUID:       GUID(o.Seed, fmt.Sprintf("partition %d %s", i+1, p.Name)),
			Attributes: p.Attributes,
		})
		start += p.Size
	}
	size := DiskSize(parts)

	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("diskimage: disk: remove old %s: %w", out, err)
	}
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("diskimage: disk: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("diskimage: disk: close %s: %w", out, cerr)
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("diskimage: disk %s: size %d: %w", out, size, err)
	}
	for i, p := range parts {
		if p.Content == "" {
			continue
		}
		off := int64(table.Partitions[i].Start) * SectorSize
		logf("disk %s: partition %d %s <- %s", out, i+1, p.Name, p.Content)
		if err := copySparse(f, off, p.Content); err != nil {
			return fmt.Errorf("diskimage: disk %s: partition %d (%s): %w", out, i+1, p.Name, err)
		}
	}
	w, err := file.New(f, false).Writable()
	if err != nil {
		return fmt.Errorf("diskimage: disk %s: %w", out, err)
	}
	if err := table.Write(w, size); err != nil {
		return fmt.Errorf("diskimage: disk %s: write GPT: %w", out, err)
	}
	if err := fixProtectiveMBR(f, size); err != nil {
		return fmt.Errorf("diskimage: disk %s: %w", out, err)
	}
	logf("disk %s: %d MiB, %d partitions", out, size/MiB, len(parts))
	return f.Sync()
}
