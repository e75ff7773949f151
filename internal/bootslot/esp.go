package bootslot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
)

// ErrESPFull is wrapped by InstallUKI when the ESP has no room.
var ErrESPFull = errors.New("bootslot: ESP full")

// CheckVersion refuses versions that cannot be an entry name: empty, or
// with characters systemd-boot would misread ('+' starts the boot
// counter) or a FAT file system cannot hold.
func CheckVersion(v string) error {
	if v == "" {
		return errors.New("bootslot: empty version")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !isDigit(c) && !isAlpha(c) && !strings.ContainsRune(".-_~^", rune(c)) {
			return fmt.Errorf("bootslot: version %q: character %q not allowed in an entry name (letters, digits, . - _ ~ ^)", v, c)
		}
	}
	return nil
}

// InstallUKI writes src to espDir/EFI/Linux/flotilla-<version>+3.efi:
// into a temporary dot file in the same directory (systemd-boot skips dot
// files), hashed on the way and checked against expectedSHA, fsynced,
// renamed into place, the directory fsynced, then read back and hashed
// again. On any error the temporary file (or the entry, if the read-back
// fails) is removed and nothing else on the ESP is touched; a full ESP
// gives an error wrapping ErrESPFull. Other entries of the same version
// are left for Cleanup.
func InstallUKI(espDir, version string, src io.Reader, expectedSHA string) (err error) {
	if err := CheckVersion(version); err != nil {
		return err
	}
	want := strings.ToLower(expectedSHA)
	if b, err := hex.DecodeString(want); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("bootslot: UKI sha256 %q is not 64 hex digits", expectedSHA)
	}
	dir := filepath.Join(espDir, EntryDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+Prefix+version+"-*.tmp")
	if err != nil {
		return espErr(dir, "create a temporary file", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), src); err != nil {
		return espErr(dir, "write the UKI", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("bootslot: UKI for %s has sha256 %s, want %s: download corrupted or wrong payload; ESP unchanged", version, got, want)
	}
	if err := tmp.Sync(); err != nil {
		return espErr(dir, "fsync the UKI", err)
	}
	if err := tmp.Close(); err != nil {
		return espErr(dir, "close the UKI", err)
	}
	final := filepath.Join(dir, EntryName(version, InitialTries))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return espErr(dir, "rename the UKI into place", err)
	}
	tmp = nil
	if err := syncDir(dir); err != nil {
		os.Remove(final)
		return err
	}
	got, err := fileSHA(final)
	if err == nil && got != want {
		err = fmt.Errorf("reads back with sha256 %s, want %s", got, want)
	}
	if err != nil {
		os.Remove(final)
		syncDir(dir)
		return fmt.Errorf("bootslot: %s: %v: the ESP did not keep what was written; entry removed", final, err)
	}
	return nil
}

func espErr(dir, what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		free := "unknown"
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil {
			free = fmt.Sprintf("%d bytes", int64(st.Bavail)*int64(st.Bsize))
		}
		return fmt.Errorf("%w: %s: no space to %s (%s free): remove old entries (Cleanup) or give the ESP more room; the ESP is otherwise unchanged: %v",
			ErrESPFull, dir, what, free, err)
	}
	return fmt.Errorf("bootslot: %s: %s: %w", dir, what, err)
}

func fileSHA(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// Ask the kernel to forget cached pages first, so the hash is of what
	// the ESP holds (best effort: vfat honours it for clean pages).
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func syncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	return nil
}

// Bless drops e's boot counter: EFI/Linux/flotilla-<v>+L-D.efi is renamed
// to flotilla-<v>.efi (one rename, then the directory is fsynced). An
// entry without a counter is left as it is.
func Bless(espDir string, e Entry) error {
	if !e.Counting() {
		return nil
	}
	dir := filepath.Join(espDir, EntryDir)
	to := EntryName(e.Version, -1)
	if err := os.Rename(filepath.Join(dir, e.Name), filepath.Join(dir, to)); err != nil {
		return fmt.Errorf("bootslot: bless %s as %s: %w", e.Name, to, err)
	}
	return syncDir(dir)
}

// Cleanup removes Flotilla entries so that at most two versions stay on
// the ESP: booted's (never its file) and one more, the version in keep, or
// when keep is empty the newest other version with tries left. Of each
// kept version only the file systemd-boot would pick stays (and the
// booted file); stale temporary files from an interrupted InstallUKI go
// too. Run DetectFallback first: an exhausted entry is how a failed
// version is recognised, and Cleanup removes it. It returns the removed
// names.
func Cleanup(espDir string, booted Entry, keep ...string) ([]string, error) {
	if booted.Version == "" {
		return nil, errors.New("bootslot: Cleanup needs the booted version: refusing to guess which entry is running")
	}
	var other string
	for _, k := range keep {
		if k == booted.Version || k == other {
			continue
		}
		if other != "" {
			return nil, fmt.Errorf("bootslot: Cleanup keeps the booted version and one more, not %s and %s", other, k)
		}
		other = k
	}
	es, err := Entries(espDir)
	if err != nil {
		return nil, err
	}
	if other == "" && len(keep) == 0 {
		for _, e := range es {
			if !e.Exhausted() && !strings.EqualFold(e.Version, booted.Version) {
				other = e.Version
				break
			}
		}
	}
	dir := filepath.Join(espDir, EntryDir)
	kept := map[string]bool{}
	var removed []string
	for _, e := range es { // sorted: the first of a version is the one to keep
		v := strings.ToLower(e.Version)
		isBooted := booted.Name != "" && strings.EqualFold(e.Name, booted.Name)
		wanted := strings.EqualFold(e.Version, booted.Version) || (other != "" && strings.EqualFold(e.Version, other))
		if isBooted || (wanted && !kept[v]) {
			kept[v] = true
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name)); err != nil {
			return removed, fmt.Errorf("bootslot: remove old entry: %w", err)
		}
		removed = append(removed, e.Name)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "."+Prefix+"*.tmp"))
	for _, t := range tmps {
		if os.Remove(t) == nil {
			removed = append(removed, filepath.Base(t))
		}
	}
	if len(removed) > 0 {
		return removed, syncDir(dir)
	}
	return nil, nil
}
