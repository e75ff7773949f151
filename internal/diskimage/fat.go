package diskimage

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// ESPLabel is the FAT volume label of the EFI system partition.
const ESPLabel = "ESP"

// ESPDirs are the directories every ESP image carries, even when empty:
// the removable-media loader, systemd-boot, the UKIs, systemd-boot's
// configuration and Flotilla's own files.
var ESPDirs = []string{"EFI/BOOT", "EFI/systemd", "EFI/Linux", "loader", "flotilla"}

// fatMu serialises FAT32: go-diskfs takes directory-entry timestamps from
// the SOURCE_DATE_EPOCH environment variable, which FAT32 sets while it runs.
var fatMu sync.Mutex

// ESP writes an EFI system partition image: t plus ESPDirs, label ESPLabel.
// t is not modified.
func ESP(t *Tree, size int64, out string, epoch int64) error {
	var esp Tree
	esp.init()
	for _, e := range t.Entries() {
		c := *e
		if err := esp.add(&c); err != nil {
			return err
		}
	}
	for _, d := range ESPDirs {
		if esp.Lookup(d) == nil {
			if err := esp.AddDir(d, DefaultDirMode); err != nil {
				return err
			}
		}
	}
	return FAT32(&esp, size, out, ESPLabel, epoch)
}

// FAT32 writes t as a FAT32 filesystem image of size bytes to out, with
// volume label label, every timestamp at epoch (which must be 1980 or later)
// and a volume ID derived from the image's contents, so the same inputs give
// the same bytes. Modes are ignored (FAT has none); symlinks are refused.
//
// It sets SOURCE_DATE_EPOCH in the process environment while it runs (calls
// are serialised; other goroutines reading that variable are not).
func FAT32(t *Tree, size int64, out, label string, epoch int64) (err error) {
	if epoch < 315532800 {
		return fmt.Errorf("diskimage: fat32 %s: epoch %d is before 1980, which FAT cannot store", out, epoch)
	}
	if len(label) > 11 {
		return fmt.Errorf("diskimage: fat32 %s: label %q is longer than 11 characters", out, label)
	}
	for _, e := range t.Entries() {
		if e.Kind == KindSymlink {
			return fmt.Errorf("diskimage: fat32 %s: %q is a symlink, which FAT cannot store: add the file itself", out, e.Path)
		}
	}
	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("diskimage: fat32: remove old %s: %w", out, err)
	}
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("diskimage: fat32: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("diskimage: fat32: close %s: %w", out, cerr)
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("diskimage: fat32 %s: size %d: %w", out, size, err)
	}

	fatMu.Lock()
	err = withEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(epoch, 10), func() error {
		return writeFAT(f, t, size, label, time.Unix(epoch, 0))
	})
	fatMu.Unlock()
	if err != nil {
		return fmt.Errorf("diskimage: fat32 %s: %w", out, err)
	}
	if err := fixFAT(f); err != nil {
		return fmt.Errorf("diskimage: fat32 %s: %w", out, err)
	}
	if err := setVolumeID(f); err != nil {
		return fmt.Errorf("diskimage: fat32 %s: %w", out, err)
	}
	return f.Sync()
}

func writeFAT(f *os.File, t *Tree, size int64, label string, mtime time.Time) error {
	fs, err := fat32.Create(file.New(f, false), size, 0, 512, label, true)
	if err != nil {
		return err
	}
	for _, e := range t.Entries() {
		switch e.Kind {
		case KindDir:
			if err := fs.Mkdir("/" + e.Path); err != nil {
				return fmt.Errorf("mkdir %s: %w", e.Path, err)
			}
		case KindFile:
			data := e.Data
			if e.Src != "" {
				// One Write per file: go-diskfs rewrites both FATs on every Write.
				if data, err = os.ReadFile(e.Src); err != nil {
					return fmt.Errorf("file %s: %w", e.Path, err)
				}
			}
			w, err := fs.OpenFile("/"+e.Path, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
			if err != nil {
				return fmt.Errorf("create %s: %w", e.Path, err)
			}
			if _, err := w.Write(data); err != nil {
				w.Close()
				return fmt.Errorf("write %s: %w", e.Path, err)
			}
			if err := w.Close(); err != nil {
				return fmt.Errorf("close %s: %w", e.Path, err)
			}
		}
		if err := fs.Chtimes("/"+e.Path, mtime, mtime, mtime); err != nil {
			return fmt.Errorf("times of %s: %w", e.Path, err)
		}
	}
	return fs.Close()
}

// withEnv runs fn with the environment variable k set to v, then restores it.
func withEnv(k, v string, fn func() error) error {
	old, had := os.LookupEnv(k)
	if err := os.Setenv(k, v); err != nil {
		return err
	}
	defer func() {
		if had {
			os.Setenv(k, old)
		} else {
			os.Unsetenv(k)
		}
	}()
	return fn()
}

// FAT32 boot sector: the volume ID (serial number) is at byte 67; the backup
// boot sector is sector 6.
const (
	fatVolumeIDOffset = 67
	fatBackupBootSect = 6
)

// setVolumeID sets the volume ID to the first 4 bytes of the SHA-256 of the
// image written with a zero volume ID.
func setVolumeID(f *os.File) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash image: %w", err)
	}
	var id [4]byte
	binary.LittleEndian.PutUint32(id[:], binary.LittleEndian.Uint32(h.Sum(nil)))
	for _, sector := range []int64{0, fatBackupBootSect} {
		if _, err := f.WriteAt(id[:], sector*512+fatVolumeIDOffset); err != nil {
			return fmt.Errorf("write volume ID: %w", err)
		}
	}
	return nil
}

// fatVolumeID returns the volume ID of the FAT32 image at path, as the
// "XXXX-XXXX" string that blkid and /dev/disk/by-uuid show.
func fatVolumeID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], fatVolumeIDOffset); err != nil {
		return "", fmt.Errorf("diskimage: read volume ID of %s: %w", path, err)
	}
	id := binary.LittleEndian.Uint32(b[:])
	return fmt.Sprintf("%04X-%04X", id>>16, id&0xffff), nil
}
