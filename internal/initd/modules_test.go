package initd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadModulesList(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modules.load")
	os.WriteFile(p, []byte("# boot modules\nkernel/fs/squashfs/squashfs.ko\n\n  kernel/drivers/block/virtio_blk.ko # disk\n"), 0o644)
	got, err := ReadModulesList(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/fs/squashfs/squashfs.ko", "kernel/drivers/block/virtio_blk.ko"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadModulesList = %q, want %q", got, want)
	}
}

// TestLoadModulesLogsAndGoesOn: a missing module and one that is not an ELF
// object are each logged, and neither stops the list.
func TestLoadModulesLogsAndGoesOn(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bogus.ko"), []byte("not a module"), 0o644)
	var logs []string
	n := LoadModules([]string{"missing.ko", "bogus.ko"}, dir, func(f string, a ...any) {
		logs = append(logs, f)
	})
	if n != 0 || len(logs) != 2 {
		t.Errorf("LoadModules loaded %d, logged %d lines (%q); want 0 and 2", n, len(logs), logs)
	}
	if KernelRelease() == "" || strings.Contains(KernelRelease(), "\x00") {
		t.Errorf("KernelRelease = %q", KernelRelease())
	}
}
