package bootslot

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
)

// LoaderGUID is the vendor GUID of systemd-boot's EFI variables.
const LoaderGUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// Probe says where Booted looks. DefaultProbe is the running system.
type Probe struct {
	EFIVars   string // efivarfs mount, /sys/firmware/efi/efivars
	OSRelease string // os-release of the running slot, /etc/os-release
}

// DefaultProbe reads the real efivarfs and os-release.
var DefaultProbe = Probe{EFIVars: "/sys/firmware/efi/efivars", OSRelease: "/etc/os-release"}

// Booted tells which entry is running. systemd-boot exports the entry it
// started as LoaderEntrySelected: its id, the lowercased file name as it
// was before this boot's counter bump (flotilla-2.0.0+3.efi, while the file
// is now flotilla-2.0.0+2-1.efi, which LoaderBootCountPath names). Without
// that variable (no efivarfs: the -kernel dev path) the running version
// comes from os-release (IMAGE_VERSION, else VERSION_ID). The entry
// returned is the one on the ESP with that name or version; its Name is ""
// when the ESP holds no entry of the running version.
func (p Probe) Booted(espDir string) (Entry, error) {
	es, err := Entries(espDir)
	if err != nil {
		return Entry{}, err
	}
	if id, err := p.efiVar("LoaderEntrySelected"); err == nil && id != "" {
		sel, ok := ParseEntry(id)
		if !ok {
			return Entry{}, fmt.Errorf("bootslot: booted entry %q (LoaderEntrySelected) is not a Flotilla entry: was another entry picked by hand?", id)
		}
		if path, err := p.efiVar("LoaderBootCountPath"); err == nil && path != "" {
			name := path[strings.LastIndexAny(path, `\/`)+1:]
			for _, e := range es {
				if strings.EqualFold(e.Name, name) {
					return e, nil
				}
			}
		}
		return byVersion(es, sel.Version), nil
	}
	v, err := osVersion(p.OSRelease)
	if err != nil {
		return Entry{}, fmt.Errorf("bootslot: no LoaderEntrySelected in %s and %w", p.EFIVars, err)
	}
	return byVersion(es, v), nil
}

// byVersion is the entry of version v systemd-boot would pick (es is
// sorted), or Entry{Version: v} when there is none.
func byVersion(es []Entry, v string) Entry {
	for _, e := range es {
		if strings.EqualFold(e.Version, v) {
			return e
		}
	}
	return Entry{Version: v, Left: -1}
}

// efiVar reads a systemd-boot string variable: a 4-byte attribute word,
// then UTF-16LE, NUL-terminated.
func (p Probe) efiVar(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.EFIVars, name+"-"+LoaderGUID))
	if err != nil {
		return "", err
	}
	if len(b) < 4 {
		return "", fmt.Errorf("bootslot: EFI variable %s: %d bytes", name, len(b))
	}
	b = b[4:]
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}

func osVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("no os-release: %w", err)
	}
	defer f.Close()
	kv := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	for _, k := range []string{"IMAGE_VERSION", "VERSION_ID"} {
		if kv[k] != "" {
			return kv[k], nil
		}
	}
	return "", fmt.Errorf("%s has neither IMAGE_VERSION nor VERSION_ID", path)
}

// Failed is a version systemd-boot gave up on.
type Failed struct {
	Version string    `json:"version"`
	Entry   string    `json:"entry"` // the exhausted file name, e.g. flotilla-3.0.0+0-3.efi
	At      time.Time `json:"at"`    // when the running system noticed
}

// DetectFallback finds the versions that failed: entries newer than the
// booted one with no tries left (+0-N), i.e. systemd-boot tried each of
// them InitialTries times, none got blessed, and it fell back to booted.
// It adds them to the list at failedPath (on STATE) and returns those not
// listed before. Run it before Cleanup, which removes exhausted entries.
func DetectFallback(espDir string, booted Entry, failedPath string, now time.Time) ([]Failed, error) {
	es, err := Entries(espDir)
	if err != nil {
		return nil, err
	}
	var found []Failed
	for _, e := range es {
		if e.Exhausted() && CompareVersions(e.Version, booted.Version) > 0 {
			found = append(found, Failed{Version: e.Version, Entry: e.Name, At: now.UTC()})
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	return RecordFailed(failedPath, found...)
}

// LoadFailed reads the failed-versions list; a missing file is an empty
// list.
func LoadFailed(path string) ([]Failed, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bootslot: %w", err)
	}
	var fs []Failed
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, fmt.Errorf("bootslot: failed-versions list %s: %w: delete it to forget past failures", path, err)
	}
	return fs, nil
}

// isFailed reports whether version is on the list at path: the updater
// does not retry it (a newer version is not on the list, so it is tried).
func isFailed(path, version string) (bool, error) {
	fs, err := LoadFailed(path)
	for _, f := range fs {
		if strings.EqualFold(f.Version, version) {
			return true, err
		}
	}
	return false, err
}

// RecordFailed adds fs to the list at path (replaced atomically: temp
// file, fsync, rename, fsync dir) and returns those that were new.
func RecordFailed(path string, fs ...Failed) ([]Failed, error) {
	old, err := LoadFailed(path)
	if err != nil {
		return nil, err
	}
	var added []Failed
	all := old
	for _, f := range fs {
		seen := false
		for _, o := range all {
			seen = seen || strings.EqualFold(o.Version, f.Version)
		}
		if !seen {
			all = append(all, f)
			added = append(added, f)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return nil, err
	}
	return added, nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	return nil
}
