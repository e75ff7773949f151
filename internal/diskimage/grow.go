package diskimage

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"golang.org/x/sys/unix"
)

// gptArraySectors is the size of a 128-entry partition array in sectors.
const gptArraySectors = 128 * 128 / SectorSize

// GrowLastPartition makes the GPT on dev (a block device, or an image file)
// cover the whole device: when the device is larger than its GPT says, it
// moves the backup GPT to the real end and extends the partition that ends
// last to the end of the usable space, aligned down to 1 MiB, rewriting the
// protective MBR and both GPTs. It reports whether it changed anything; a
// second call changes nothing. It does not tell the kernel: see
// ReReadPartitions and ResizePartition.
func GrowLastPartition(dev string) (grown bool, err error) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("diskimage: grow: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("diskimage: grow %s: close: %w", dev, cerr)
		}
	}()
	if ssz, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET); err == nil && ssz != SectorSize {
		return false, fmt.Errorf("diskimage: grow %s: logical sector size %d, only %d is supported", dev, ssz, SectorSize)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, fmt.Errorf("diskimage: grow %s: size: %w", dev, err)
	}
	size -= size % SectorSize
	b := file.New(f, false)
	table, err := gpt.Read(b, SectorSize, SectorSize)
	if err != nil {
		return false, fmt.Errorf("diskimage: grow %s: read GPT: %w", dev, err)
	}
	if len(table.Partitions) == 0 {
		return false, fmt.Errorf("diskimage: grow %s: GPT has no partitions", dev)
	}
	oldSize := int64(table.TotalSize())
	if size < oldSize {
		return false, fmt.Errorf("diskimage: grow %s: device is %d bytes, smaller than its GPT's %d: wrong device or truncated image", dev, size, oldSize)
	}
	last := table.Partitions[0]
	for _, p := range table.Partitions {
		if p.End > last.End {
			last = p
		}
	}
	oldEnd := last.End

	table.Resize(uint64(size))
	usableEnd := table.LastDataSector() // last usable sector
	const mibSectors = MiB / SectorSize
	newEnd := (usableEnd+1)/mibSectors*mibSectors - 1
	if newEnd < oldEnd {
		newEnd = oldEnd // less than a MiB to gain: leave the partition alone
	}
	if size == oldSize && newEnd == oldEnd && !table.RecoveredFromBackup {
		return false, nil
	}
	last.End = newEnd
	last.Size = 0 // recomputed from Start and End on write

	w, err := b.Writable()
	if err != nil {
		return false, fmt.Errorf("diskimage: grow %s: %w", dev, err)
	}
	if err := table.Write(w, size); err != nil {
		return false, fmt.Errorf("diskimage: grow %s: write GPT: %w", dev, err)
	}
	if err := fixProtectiveMBR(f, size); err != nil {
		return false, fmt.Errorf("diskimage: grow %s: %w", dev, err)
	}
	if size > oldSize {
		// The old backup header now lies in free space of the grown
		// partition: wipe it so nothing mistakes it for a GPT.
		if _, err := f.WriteAt(make([]byte, SectorSize), oldSize-SectorSize); err != nil {
			return false, fmt.Errorf("diskimage: grow %s: wipe old backup GPT header: %w", dev, err)
		}
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("diskimage: grow %s: sync: %w", dev, err)
	}
	return true, nil
}

// fixProtectiveMBR sets the protective MBR's sector count to 0xFFFFFFFF on
// disks too large for it (go-diskfs truncates it to 32 bits) and its CHS
// fields to the values the UEFI specification asks for.
func fixProtectiveMBR(f *os.File, size int64) error {
	var e [16]byte
	if _, err := f.ReadAt(e[:], 446); err != nil {
		return fmt.Errorf("read protective MBR: %w", err)
	}
	if e[4] != 0xee {
		return fmt.Errorf("no protective MBR entry (type 0x%02x)", e[4])
	}
	sectors := uint64(size/SectorSize) - 1
	if sectors > 0xffffffff {
		sectors = 0xffffffff
	}
	copy(e[1:4], []byte{0x00, 0x02, 0x00}) // CHS of LBA 1
	copy(e[5:8], []byte{0xff, 0xff, 0xff}) // CHS beyond addressing
	binary.LittleEndian.PutUint32(e[12:16], uint32(sectors))
	if _, err := f.WriteAt(e[:], 446); err != nil {
		return fmt.Errorf("write protective MBR: %w", err)
	}
	return nil
}

// ReReadPartitions asks the kernel to re-read the partition table of the
// whole-disk block device f (BLKRRPART). It fails with EBUSY while any
// partition of the disk is in use.
func ReReadPartitions(f *os.File) error {
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("diskimage: BLKRRPART on %s: %w", f.Name(), err)
	}
	return nil
}
