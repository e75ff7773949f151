package statedisk

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestPrepareAndResize: an empty STATE is formatted, a larger partition is
// reported grown and Resize fills it, then STATE is left as it is.
func TestPrepareAndResize(t *testing.T) {
	testenv.NeedCommand(t, "mke2fs")
	testenv.NeedCommand(t, "resize2fs")
	dir := t.TempDir()
	img := filepath.Join(dir, "state.img")
	sys := filepath.Join(dir, "sys")
	setSize := func(bytes int64) {
		t.Helper()
		if err := os.Truncate(img, bytes); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(sys, "state.img"), 0o755)
		sectors := strconv.FormatInt(bytes/512, 10) + "\n"
		if err := os.WriteFile(filepath.Join(sys, "state.img", "size"), []byte(sectors), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if f, err := os.Create(img); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	setSize(32 << 20)

	step := func(want string) {
		t.Helper()
		how, err := Prepare(sys, img)
		if err != nil || how != want {
			t.Fatalf("Prepare = %q, %v; want %q", how, err, want)
		}
	}
	step("fresh")
	if size, ok, err := Ext4Size(img); !ok || err != nil || size != 32<<20 {
		t.Fatalf("after fresh: Ext4Size = %d, %v, %v; want a 32 MiB ext4", size, ok, err)
	}
	step("existing")
	setSize(64 << 20)
	step("grown")
	if err := Resize(img); err != nil {
		t.Fatal(err)
	}
	if size, ok, err := Ext4Size(img); !ok || err != nil || size != 64<<20 {
		t.Fatalf("after Resize: Ext4Size = %d, %v, %v; want a 64 MiB ext4", size, ok, err)
	}
	step("existing")
}

func TestPrepareNamesTheDevice(t *testing.T) {
	if _, err := Prepare(t.TempDir(), "/dev/nosuch9"); err == nil || !strings.HasPrefix(err.Error(), "/dev/nosuch9: size") {
		t.Errorf("Prepare of a missing partition: %v, want it to name /dev/nosuch9", err)
	}
}
