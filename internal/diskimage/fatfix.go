package diskimage

import (
	"encoding/binary"
	"fmt"
	"os"
)

// fatLayout is what fixFAT needs from a FAT32 boot sector.
type fatLayout struct {
	sectorSize     int64
	clusterSize    int64
	fatStart       int64 // byte offset of the first FAT
	fatSize        int64 // bytes per FAT
	numFATs        int64
	dataStart      int64 // byte offset of cluster 2
	clusters       uint32
	rootCluster    uint32
	fsInfoSector   int64
	backupBootSect int64
}

func readFATLayout(f *os.File) (*fatLayout, error) {
	var b [512]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("read boot sector: %w", err)
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	l := &fatLayout{
		sectorSize:     le16(11),
		numFATs:        int64(b[16]),
		rootCluster:    uint32(le32(44)),
		fsInfoSector:   le16(48),
		backupBootSect: le16(50),
	}
	l.clusterSize = int64(b[13]) * l.sectorSize
	l.fatStart = le16(14) * l.sectorSize
	l.fatSize = le32(36) * l.sectorSize
	l.dataStart = l.fatStart + l.numFATs*l.fatSize
	total := le32(32) * l.sectorSize
	if l.sectorSize == 0 || l.clusterSize == 0 || l.fatSize == 0 || total <= l.dataStart {
		return nil, fmt.Errorf("boot sector does not describe a FAT32 filesystem")
	}
	l.clusters = uint32((total - l.dataStart) / l.clusterSize)
	return l, nil
}

// minFAT32Clusters is the fewest clusters a FAT32 filesystem may have;
// with fewer, readers take it for FAT16.
const minFAT32Clusters = 65525

// fixFAT corrects what go-diskfs v1.9.4 leaves for fsck.vfat to complain
// about: a data area with more clusters than the FAT can address (its FAT
// sizing forgets the two reserved entries), empty files that own a cluster,
// ".." entries of directories in the root that do not point at cluster 0,
// and an FSInfo sector without the free cluster count and next free cluster.
func fixFAT(f *os.File) error {
	l, err := readFATLayout(f)
	if err != nil {
		return err
	}
	if max := uint32(l.fatSize/4) - 2; l.clusters > max {
		// Shrink the filesystem (not the image) to what the FAT addresses.
		l.clusters = max
		total := uint32((l.dataStart + int64(max)*l.clusterSize) / l.sectorSize)
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], total)
		for _, s := range []int64{0, l.backupBootSect} {
			if _, err := f.WriteAt(b[:], s*l.sectorSize+32); err != nil {
				return fmt.Errorf("write total sectors: %w", err)
			}
		}
	}
	if l.clusters < minFAT32Clusters {
		return fmt.Errorf("%d clusters is too few for FAT32 (at least %d): make the image at least 34 MiB", l.clusters, minFAT32Clusters)
	}
	fatBytes := make([]byte, l.fatSize)
	if _, err := f.ReadAt(fatBytes, l.fatStart); err != nil {
		return fmt.Errorf("read FAT: %w", err)
	}
	fatDirty := false
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fatBytes[4*c:]) & 0x0fffffff }
	free := func(cs []uint32) {
		for _, c := range cs {
			binary.LittleEndian.PutUint32(fatBytes[4*c:], 0)
		}
		fatDirty = true
	}
	chain := func(c uint32) ([]uint32, error) {
		var cs []uint32
		for c >= 2 && c < 0x0ffffff8 {
			if c > l.clusters+1 || len(cs) > int(l.clusters) {
				return nil, fmt.Errorf("bad cluster chain at %d", c)
			}
			cs = append(cs, c)
			c = next(c)
		}
		return cs, nil
	}
	var walk func(dir uint32, parentIsRoot bool) error
	walk = func(dir uint32, parentIsRoot bool) error {
		cs, err := chain(dir)
		if err != nil {
			return err
		}
		buf := make([]byte, l.clusterSize)
		for _, c := range cs {
			off := l.dataStart + int64(c-2)*l.clusterSize
			if _, err := f.ReadAt(buf, off); err != nil {
				return fmt.Errorf("read directory cluster %d: %w", c, err)
			}
			for i := int64(0); i+32 <= l.clusterSize; i += 32 {
				e := buf[i : i+32]
				attr := e[11]
				switch {
				case e[0] == 0:
					return nil
				case e[0] == 0xe5, attr&0x0f == 0x0f, attr&0x08 != 0:
					continue
				}
				name := string(e[0:11])
				cl := uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:]))
				if attr&0x10 == 0 {
					if binary.LittleEndian.Uint32(e[28:]) == 0 && cl != 0 {
						// An empty file owns no clusters.
						cs, err := chain(cl)
						if err != nil {
							return err
						}
						free(cs)
						var zero [2]byte
						for _, o := range []int64{20, 26} {
							if _, err := f.WriteAt(zero[:], off+i+o); err != nil {
								return err
							}
						}
					}
					continue
				}
				switch name {
				case ".          ":
				case "..         ":
					if parentIsRoot && cl != 0 {
						var zero [2]byte
						if _, err := f.WriteAt(zero[:], off+i+20); err != nil {
							return err
						}
						if _, err := f.WriteAt(zero[:], off+i+26); err != nil {
							return err
						}
					}
				default:
					if err := walk(cl, dir == l.rootCluster); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := walk(l.rootCluster, false); err != nil {
		return fmt.Errorf("directories: %w", err)
	}

	if fatDirty {
		for i := int64(0); i < l.numFATs; i++ {
			if _, err := f.WriteAt(fatBytes, l.fatStart+i*l.fatSize); err != nil {
				return fmt.Errorf("write FAT %d: %w", i+1, err)
			}
		}
	}
	nfree, first := uint32(0), uint32(0xffffffff)
	for c := uint32(2); c < l.clusters+2; c++ {
		if next(c) == 0 {
			nfree++
			if first == 0xffffffff {
				first = c
			}
		}
	}
	var info [8]byte
	binary.LittleEndian.PutUint32(info[0:], nfree)
	binary.LittleEndian.PutUint32(info[4:], first)
	for _, s := range []int64{l.fsInfoSector, l.backupBootSect + l.fsInfoSector} {
		if _, err := f.WriteAt(info[:], s*l.sectorSize+488); err != nil {
			return fmt.Errorf("write FSInfo: %w", err)
		}
	}
	return nil
}
