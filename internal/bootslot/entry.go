package bootslot

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// EntryDir is where UKIs live on the ESP (Boot Loader Specification type
// #2 entries), relative to the ESP's mount point.
const EntryDir = "EFI/Linux"

// Prefix starts every Flotilla entry's file name; loader.conf's
// "default flotilla-*" matches it.
const Prefix = "flotilla-"

// InitialTries is the boot counter a freshly installed entry starts with.
const InitialTries = 3

// Entry is one Flotilla UKI on the ESP: EFI/Linux/flotilla-<version>
// [+<left>[-<done>]].efi.
type Entry struct {
	Name    string // file name in EFI/Linux; "" for a booted version with no file
	Version string
	Left    int // tries left; -1 when the name has no counter (blessed)
	Done    int // tries done; 0 when absent
}

// Counting reports whether systemd-boot is still counting this entry's
// boots (it has not been blessed).
func (e Entry) Counting() bool { return e.Left >= 0 }

// Exhausted reports an entry at +0-N: systemd-boot sorts it last, below
// every entry with tries left.
func (e Entry) Exhausted() bool { return e.Left == 0 }

func (e Entry) String() string {
	if e.Name == "" {
		return e.Version + " (no entry on the ESP)"
	}
	return e.Name
}

// EntryName is the file name of version's entry with left tries and no
// tries done, or the blessed name when left < 0.
func EntryName(version string, left int) string {
	if left < 0 {
		return Prefix + version + ".efi"
	}
	return fmt.Sprintf("%s%s+%d.efi", Prefix, version, left)
}

// ParseEntry parses a file name in EFI/Linux. ok is false for names that
// are not Flotilla entries (other prefixes, other suffixes, dot files:
// systemd-boot skips names starting with '.', which is where InstallUKI's
// temporary files go). The counter is parsed as systemd-boot does: after
// the last '+', LEFT[-DONE] right before ".efi"; anything else there means
// no counter.
func ParseEntry(name string) (e Entry, ok bool) {
	lower := strings.ToLower(name)
	if !strings.HasPrefix(lower, Prefix) || !strings.HasSuffix(lower, ".efi") {
		return Entry{}, false
	}
	stem := name[len(Prefix) : len(name)-len(".efi")]
	e = Entry{Name: name, Version: stem, Left: -1}
	plus := strings.LastIndexByte(stem, '+')
	if plus < 0 {
		return e, e.Version != ""
	}
	ls, ds, hasDone := strings.Cut(stem[plus+1:], "-")
	left, err := strconv.Atoi(ls)
	if err != nil || left < 0 || !allDigits(ls) {
		return e, true
	}
	done := 0
	if hasDone {
		if done, err = strconv.Atoi(ds); err != nil || !allDigits(ds) {
			return e, true
		}
	}
	e.Version, e.Left, e.Done = stem[:plus], left, done
	return e, e.Version != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// Entries lists the Flotilla entries in espDir/EFI/Linux in systemd-boot's
// order (Sort): the first one is what "default flotilla-*" boots. A
// missing EFI/Linux is no entries.
func Entries(espDir string) ([]Entry, error) {
	ents, err := os.ReadDir(filepath.Join(espDir, EntryDir))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bootslot: list ESP entries: %w", err)
	}
	var out []Entry
	for _, de := range ents {
		if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if e, ok := ParseEntry(de.Name()); ok {
			out = append(out, e)
		}
	}
	Sort(out)
	return out, nil
}

// Sort orders entries as systemd-boot 252 does (config_entry_compare in
// src/boot/efi/boot.c), for type #2 entries that all carry the same sort
// key (ID=flotilla in .osrel) and no machine-id:
//
//  1. entries with no tries left (+0-N) last;
//  2. version, newest first (CompareVersions; systemd-boot reads the
//     version from .osrel's IMAGE_VERSION, which image-build makes the
//     same as the file name's);
//  3. the entry id (the lowercased file name, counter included), newest
//     first;
//  4. more tries left first, then fewer tries done.
func Sort(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool { return compareEntries(es[i], es[j]) < 0 })
}

func compareEntries(a, b Entry) int {
	if r := cmpBool(a.Exhausted(), b.Exhausted()); r != 0 {
		return r
	}
	if r := -CompareVersions(a.Version, b.Version); r != 0 {
		return r
	}
	if r := -CompareVersions(strings.ToLower(a.Name), strings.ToLower(b.Name)); r != 0 {
		return r
	}
	if a.Left < 0 || b.Left < 0 {
		return 0
	}
	if r := -cmp.Compare(a.Left, b.Left); r != 0 {
		return r
	}
	return cmp.Compare(a.Done, b.Done)
}

// defaultEntry is the entry systemd-boot boots with loader.conf's
// "default flotilla-*" and no LoaderEntryDefault/OneShot EFI variables:
// the first match in sorted order. It is an exhausted entry only when
// every entry is exhausted (systemd-boot still boots it then).
func defaultEntry(es []Entry) (Entry, bool) {
	s := append([]Entry(nil), es...)
	Sort(s)
	if len(s) == 0 {
		return Entry{}, false
	}
	return s[0], true
}
