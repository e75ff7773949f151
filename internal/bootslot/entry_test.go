package bootslot

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestCompareVersions(t *testing.T) {
	// Older to newer, as systemd's own comment on strverscmp_improved
	// lists them, plus semver-shaped ones.
	order := []string{"0.9.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0~rc1", "2.0.0", "2.0.0-rc1", "2.0.0-1", "2.0.0^post1", "2.0.0.1", "2.0.0a", "10.0.0"}
	for i, a := range order {
		for j, b := range order {
			want := cmp.Compare(i, j)
			if got := CompareVersions(a, b); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if CompareVersions("1.0.01", "1.0.1") != 0 {
		t.Error("leading zeros should not matter")
	}
}

func TestParseEntry(t *testing.T) {
	for name, want := range map[string]Entry{
		"flotilla-1.0.0.efi":       {Name: "flotilla-1.0.0.efi", Version: "1.0.0", Left: -1},
		"flotilla-2.0.0+3.efi":     {Name: "flotilla-2.0.0+3.efi", Version: "2.0.0", Left: 3},
		"flotilla-2.0.0+2-1.efi":   {Name: "flotilla-2.0.0+2-1.efi", Version: "2.0.0", Left: 2, Done: 1},
		"flotilla-2.0.0+0-3.efi":   {Name: "flotilla-2.0.0+0-3.efi", Version: "2.0.0", Left: 0, Done: 3},
		"FLOTILLA-2.0.0-RC1+1.EFI": {Name: "FLOTILLA-2.0.0-RC1+1.EFI", Version: "2.0.0-RC1", Left: 1},
		"flotilla-2+x.efi":         {Name: "flotilla-2+x.efi", Version: "2+x", Left: -1},
	} {
		got, ok := ParseEntry(name)
		if !ok || got != want {
			t.Errorf("ParseEntry(%q) = %+v %v, want %+v", name, got, ok, want)
		}
	}
	for _, name := range []string{"other-1.efi", "flotilla-1.conf", "flotilla-.efi", "flotilla-+3.efi"} {
		if e, ok := ParseEntry(name); ok {
			t.Errorf("ParseEntry(%q) = %+v, want not an entry", name, e)
		}
	}
	if n := EntryName("2.0.0", 3); n != "flotilla-2.0.0+3.efi" {
		t.Error(n)
	}
}

func names(es []Entry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name)
	}
	return s
}

func parse(t *testing.T, ns ...string) []Entry {
	var es []Entry
	for _, n := range ns {
		e, ok := ParseEntry(n)
		if !ok {
			t.Fatal(n)
		}
		es = append(es, e)
	}
	return es
}

// TestSortAsSystemdBoot: the orders systemd-boot 252 gives (see doc.go).
func TestSortAsSystemdBoot(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		// A staged update beats the blessed running version.
		{[]string{"flotilla-1.0.0.efi", "flotilla-2.0.0+3.efi"}, []string{"flotilla-2.0.0+3.efi", "flotilla-1.0.0.efi"}},
		// Still while it is being tried.
		{[]string{"flotilla-1.0.0.efi", "flotilla-2.0.0+1-2.efi"}, []string{"flotilla-2.0.0+1-2.efi", "flotilla-1.0.0.efi"}},
		// Out of tries: it sorts last and 1.0.0 boots (the fallback).
		{[]string{"flotilla-2.0.0+0-3.efi", "flotilla-1.0.0.efi"}, []string{"flotilla-1.0.0.efi", "flotilla-2.0.0+0-3.efi"}},
		// Even below an older counting entry.
		{[]string{"flotilla-3.0.0+0-3.efi", "flotilla-2.0.0+2-1.efi", "flotilla-1.0.0.efi"}, []string{"flotilla-2.0.0+2-1.efi", "flotilla-1.0.0.efi", "flotilla-3.0.0+0-3.efi"}},
		// 1.10 is newer than 1.9 (not a string compare).
		{[]string{"flotilla-1.9.0.efi", "flotilla-1.10.0+3.efi"}, []string{"flotilla-1.10.0+3.efi", "flotilla-1.9.0.efi"}},
		// Same version: more tries left first.
		{[]string{"flotilla-2.0.0+1-2.efi", "flotilla-2.0.0+3.efi"}, []string{"flotilla-2.0.0+3.efi", "flotilla-2.0.0+1-2.efi"}},
	} {
		es := parse(t, c.in...)
		Sort(es)
		if got := names(es); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Sort(%v) = %v, want %v", c.in, got, c.want)
		}
		if d, _ := defaultEntry(parse(t, c.in...)); d.Name != c.want[0] {
			t.Errorf("defaultEntry(%v) = %s", c.in, d.Name)
		}
	}
}

func writeEntries(t *testing.T, esp string, ns ...string) {
	t.Helper()
	dir := filepath.Join(esp, EntryDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func lsEntries(t *testing.T, esp string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(esp, EntryDir))
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range ents {
		s = append(s, e.Name())
	}
	return s
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestInstallUKI(t *testing.T) {
	esp := t.TempDir()
	writeEntries(t, esp, "flotilla-1.0.0.efi", "other.efi")
	uki := bytes.Repeat([]byte("uki"), 100000)
	if err := InstallUKI(esp, "2.0.0", bytes.NewReader(uki), sha(uki)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(esp, EntryDir, "flotilla-2.0.0+3.efi"))
	if err != nil || !bytes.Equal(got, uki) {
		t.Fatalf("installed entry: %v", err)
	}
	if ls := lsEntries(t, esp); !reflect.DeepEqual(ls, []string{"flotilla-1.0.0.efi", "flotilla-2.0.0+3.efi", "other.efi"}) {
		t.Errorf("EFI/Linux after install: %v", ls)
	}
	es, _ := Entries(esp)
	if d, _ := defaultEntry(es); d.Name != "flotilla-2.0.0+3.efi" {
		t.Errorf("default after install: %v", d)
	}

	// A hash mismatch leaves nothing behind.
	err = InstallUKI(esp, "3.0.0", bytes.NewReader(uki[1:]), sha(uki))
	if err == nil || !strings.Contains(err.Error(), "want "+sha(uki)) {
		t.Fatalf("mismatch: %v", err)
	}
	if ls := lsEntries(t, esp); len(ls) != 3 {
		t.Errorf("after a mismatch: %v", ls)
	}
	for _, v := range []string{"", "3.0.0+1", "a/b", "3 0"} {
		if err := InstallUKI(esp, v, bytes.NewReader(uki), sha(uki)); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
}

// TestInstallUKIFull fills a small tmpfs "ESP": a clear error, the
// temporary file gone, the other entries as they were.
func TestInstallUKIFull(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mount")
	esp := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", esp).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", esp).Run()
	writeEntries(t, esp, "flotilla-1.0.0.efi")
	before := lsEntries(t, esp)
	uki := bytes.Repeat([]byte{7}, 2<<20)
	err := InstallUKI(esp, "2.0.0", bytes.NewReader(uki), sha(uki))
	if !errors.Is(err, ErrESPFull) {
		t.Fatalf("err %v, want ErrESPFull", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), filepath.Join(esp, EntryDir)) || !strings.Contains(err.Error(), "Cleanup") {
		t.Errorf("error does not name the ESP and what to do: %v", err)
	}
	if after := lsEntries(t, esp); !reflect.DeepEqual(after, before) {
		t.Errorf("EFI/Linux %v, want %v", after, before)
	}
}

func TestBlessAndBooted(t *testing.T) {
	esp := t.TempDir()
	writeEntries(t, esp, "flotilla-1.0.0.efi", "flotilla-2.0.0+2-1.efi")
	vars := t.TempDir()
	p := Probe{EFIVars: vars, OSRelease: filepath.Join(t.TempDir(), "os-release")}

	// No efivars: os-release says which version runs.
	os.WriteFile(p.OSRelease, []byte("ID=flotilla\nVERSION_ID=\"1.0.0\"\n"), 0o644)
	if b, err := p.Booted(esp); err != nil || b.Name != "flotilla-1.0.0.efi" {
		t.Fatalf("Booted from os-release: %+v %v", b, err)
	}
	// systemd-boot's variables win: the id as found, the renamed path.
	writeVar(t, vars, "LoaderEntrySelected", "flotilla-2.0.0+3.efi")
	writeVar(t, vars, "LoaderBootCountPath", `\EFI\Linux\flotilla-2.0.0+2-1.efi`)
	b, err := p.Booted(esp)
	if err != nil || b.Name != "flotilla-2.0.0+2-1.efi" || b.Version != "2.0.0" {
		t.Fatalf("Booted from efivars: %+v %v", b, err)
	}
	if err := Bless(esp, b); err != nil {
		t.Fatal(err)
	}
	if ls := lsEntries(t, esp); !reflect.DeepEqual(ls, []string{"flotilla-1.0.0.efi", "flotilla-2.0.0.efi"}) {
		t.Errorf("after Bless: %v", ls)
	}
	// After the bless the count path is stale; the version still finds it.
	if b, err := p.Booted(esp); err != nil || b.Name != "flotilla-2.0.0.efi" {
		t.Errorf("Booted after bless: %+v %v", b, err)
	}
	if err := Bless(esp, Entry{Name: "flotilla-9+1.efi", Version: "9", Left: 1}); err == nil {
		t.Error("Bless of a missing entry: no error")
	}
	writeVar(t, vars, "LoaderEntrySelected", "auto-windows")
	if _, err := p.Booted(esp); err == nil {
		t.Error("a foreign LoaderEntrySelected: no error")
	}
}

func writeVar(t *testing.T, dir, name, val string) {
	t.Helper()
	b := []byte{7, 0, 0, 0}
	for _, u := range utf16.Encode([]rune(val + "\x00")) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+LoaderGUID), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFallbackAndCleanup(t *testing.T) {
	esp := t.TempDir()
	state := filepath.Join(t.TempDir(), "updater", "failed.json")
	// v3 ran out of tries; systemd-boot fell back to v2.
	writeEntries(t, esp, "flotilla-1.0.0.efi", "flotilla-2.0.0.efi", "flotilla-3.0.0+0-3.efi", ".flotilla-4.0.0-123.tmp")
	booted := Entry{Name: "flotilla-2.0.0.efi", Version: "2.0.0", Left: -1}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := DetectFallback(esp, booted, state, now)
	if err != nil || len(got) != 1 || got[0].Version != "3.0.0" || got[0].Entry != "flotilla-3.0.0+0-3.efi" {
		t.Fatalf("DetectFallback: %+v %v", got, err)
	}
	if again, err := DetectFallback(esp, booted, state, now); err != nil || len(again) != 0 {
		t.Errorf("second DetectFallback: %+v %v (want nothing new)", again, err)
	}
	if f, _ := isFailed(state, "3.0.0"); !f {
		t.Error("3.0.0 not listed as failed")
	}
	if f, _ := isFailed(state, "4.0.0"); f {
		t.Error("4.0.0 listed as failed")
	}
	// An older exhausted entry is not a failed update.
	writeEntries(t, esp, "flotilla-0.5.0+0-3.efi")
	if got, _ := DetectFallback(esp, booted, state, now); len(got) != 0 {
		t.Errorf("older exhausted counted as failed: %+v", got)
	}

	removed, err := Cleanup(esp, booted)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	// Keeps booted 2.0.0 and the newest other version with tries left
	// (1.0.0: 3.0.0 is exhausted).
	if ls := lsEntries(t, esp); !reflect.DeepEqual(ls, []string{"flotilla-1.0.0.efi", "flotilla-2.0.0.efi"}) {
		t.Errorf("after Cleanup: %v", ls)
	}
	// A staged update: kept with the booted one, the rest goes.
	writeEntries(t, esp, "flotilla-4.0.0+3.efi")
	if _, err := Cleanup(esp, booted, "4.0.0"); err != nil {
		t.Fatal(err)
	}
	if ls := lsEntries(t, esp); !reflect.DeepEqual(ls, []string{"flotilla-2.0.0.efi", "flotilla-4.0.0+3.efi"}) {
		t.Errorf("after Cleanup keeping 4.0.0: %v", ls)
	}
	// The booted entry stays even when asked to keep others.
	if _, err := Cleanup(esp, booted, "4.0.0", "5.0.0"); err == nil {
		t.Error("three versions accepted")
	}
	if _, err := Cleanup(esp, Entry{}); err == nil {
		t.Error("Cleanup without a booted version accepted")
	}
	// Booted on the dev path with no file: its version is still kept.
	writeEntries(t, esp, "flotilla-5.0.0.efi")
	if _, err := Cleanup(esp, Entry{Version: "4.0.0", Left: -1}, "5.0.0"); err != nil {
		t.Fatal(err)
	}
	if ls := lsEntries(t, esp); !reflect.DeepEqual(ls, []string{"flotilla-4.0.0+3.efi", "flotilla-5.0.0.efi"}) {
		t.Errorf("after Cleanup from 4.0.0: %v", ls)
	}
}
