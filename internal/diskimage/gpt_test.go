package diskimage

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   int64  `json:"firstlba"`
		LastLBA    int64  `json:"lastlba"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskJSON(t *testing.T, img string) sfdiskTable {
	t.Helper()
	var st sfdiskTable
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", img)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// sfdiskVerify fails the test unless sfdisk finds nothing wrong.
func sfdiskVerify(t *testing.T, img string) {
	t.Helper()
	out, err := exec.Command("sfdisk", "--verify", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No errors detected") ||
		strings.Contains(strings.ToLower(string(out)), "warn") {
		t.Errorf("sfdisk --verify %s: %v\n%s", img, err, out)
	}
}

// writeContent writes a file with data at its start and a hole after it.
func writeContent(t *testing.T, path string, data []byte, size int64) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// testDisk builds a default-layout disk with recognisable contents.
func testDisk(t *testing.T, dir, seed string) (img string, esp, rootA []byte) {
	t.Helper()
	esp = make([]byte, 3*MiB+17)
	rand.New(rand.NewSource(2)).Read(esp)
	rootA = make([]byte, 1*MiB)
	rand.New(rand.NewSource(3)).Read(rootA)
	espFile := filepath.Join(dir, "esp.img")
	rootFile := filepath.Join(dir, "root.sqfs")
	writeContent(t, espFile, esp, 100*MiB) // 97 MiB hole
	writeContent(t, rootFile, rootA, 1*MiB)
	img = filepath.Join(dir, "disk-"+seed+".img")
	if err := Disk(img, DefaultLayout.Parts(espFile, rootFile, ""), DiskOptions{Seed: seed, Logf: t.Logf}); err != nil {
		t.Fatal(err)
	}
	return img, esp, rootA
}

func TestDisk(t *testing.T) {
	testenv.NeedCommand(t, "sfdisk")
	dir := t.TempDir()
	img, esp, rootA := testDisk(t, dir, "1.2.3")

	size := DiskSize(DefaultLayout.Parts("", "", ""))
	if fi, _ := os.Stat(img); fi.Size() != size || size != 898*MiB || size > 1200e6 {
		t.Fatalf("disk is %d bytes, want %d (898 MiB, under 1.2 GB)", fi.Size(), size)
	}
	if a := allocated(t, img); a > 8*MiB {
		t.Errorf("disk allocates %d bytes on the host, want only the contents (~4 MiB): not sparse", a)
	}
	sfdiskVerify(t, img)

	st := sfdiskJSON(t, img).PartitionTable
	if st.Label != "gpt" || st.ID != GUID("1.2.3", "disk") || st.SectorSize != 512 || st.FirstLBA != 34 {
		t.Errorf("table: %+v", st)
	}
	want := []struct {
		name, typ   string
		start, size int64 // MiB
	}{
		{NameESP, TypeESP, 1, 128},
		{NameRootA, TypeRootX86_64, 129, 256},
		{NameRootB, TypeRootX86_64, 385, 256},
		{NameState, TypeVar, 641, 256},
	}
	if len(st.Partitions) != len(want) {
		t.Fatalf("%d partitions, want %d: %+v", len(st.Partitions), len(want), st.Partitions)
	}
	uuids := map[string]bool{}
	for i, w := range want {
		p := st.Partitions[i]
		if p.Name != w.name || p.Type != w.typ || p.Start != w.start*2048 || p.Size != w.size*2048 {
			t.Errorf("partition %d: %+v, want %+v", i+1, p, w)
		}
		uuids[p.UUID] = true
	}
	if len(uuids) != 4 {
		t.Errorf("partition GUIDs not distinct: %v", uuids)
	}
	if got := readAt(t, img, 1*MiB, len(esp)); !bytes.Equal(got, esp) {
		t.Error("ESP contents differ")
	}
	if got := readAt(t, img, 129*MiB, len(rootA)); !bytes.Equal(got, rootA) {
		t.Error("ROOT-A contents differ")
	}

	again, _, _ := testDisk(t, t.TempDir(), "1.2.3")
	sameFile(t, img, again)
	other, _, _ := testDisk(t, t.TempDir(), "1.2.4")
	if sfdiskJSON(t, other).PartitionTable.ID == st.ID {
		t.Error("another seed gave the same disk GUID")
	}
}

func TestDiskErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	writeContent(t, big, nil, 2*MiB)
	for name, parts := range map[string][]Part{
		"none":          nil,
		"unaligned":     {{Name: "X", Type: TypeVar, Size: MiB + 512}},
		"bad type":      {{Name: "X", Type: "not-a-guid", Size: MiB}},
		"content large": {{Name: "X", Type: TypeVar, Size: MiB, Content: big}},
		"content gone":  {{Name: "X", Type: TypeVar, Size: MiB, Content: filepath.Join(dir, "nope")}},
	} {
		out := filepath.Join(dir, "disk.img")
		if err := Disk(out, parts, DiskOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: failed build left %s", name, out)
		}
	}
}

func TestGrowLastPartition(t *testing.T) {
	testenv.NeedCommand(t, "sfdisk")
	img, esp, _ := testDisk(t, t.TempDir(), "grow")
	grown, err := GrowLastPartition(img)
	if err != nil || grown {
		t.Fatalf("grow on a fitting disk: %v %v, want false, nil", grown, err)
	}
	before := sfdiskJSON(t, img).PartitionTable

	// 1 GiB more plus a ragged 300 KiB that alignment must leave unused.
	newSize := int64(898+1024)*MiB + 300<<10
	if err := os.Truncate(img, newSize); err != nil {
		t.Fatal(err)
	}
	if grown, err = GrowLastPartition(img); err != nil || !grown {
		t.Fatalf("grow: %v %v, want true, nil", grown, err)
	}
	sfdiskVerify(t, img)
	after := sfdiskJSON(t, img).PartitionTable
	if after.ID != before.ID || len(after.Partitions) != 4 {
		t.Fatalf("after: %+v", after)
	}
	for i := 0; i < 3; i++ {
		if after.Partitions[i] != before.Partitions[i] {
			t.Errorf("partition %d changed: %+v -> %+v", i+1, before.Partitions[i], after.Partitions[i])
		}
	}
	st := after.Partitions[3]
	// STATE takes the old 1 MiB tail too; the ragged 300 KiB stays unused.
	if st.Start != 641*2048 || st.Size != (256+1024+1)*2048 || st.Name != NameState || st.UUID != before.Partitions[3].UUID {
		t.Errorf("STATE after grow: %+v", st)
	}
	if after.LastLBA != newSize/512-34 {
		t.Errorf("last usable LBA %d, want %d", after.LastLBA, newSize/512-34)
	}
	if got := readAt(t, img, 1*MiB, len(esp)); !bytes.Equal(got, esp) {
		t.Error("ESP contents changed")
	}
	if b := readAt(t, img, 898*MiB-512, 8); string(b) == "EFI PART" {
		t.Error("old backup GPT header still there")
	}

	sum := func() []byte { // MBR, primary and backup GPT
		return append(readAt(t, img, 0, 34*512), readAt(t, img, newSize-33*512, 33*512)...)
	}
	was := sum()
	if grown, err = GrowLastPartition(img); err != nil || grown {
		t.Errorf("second grow: %v %v, want false, nil", grown, err)
	}
	if !bytes.Equal(was, sum()) {
		t.Error("second grow changed the disk")
	}

	if err := os.Truncate(img, 500*MiB); err != nil {
		t.Fatal(err)
	}
	if _, err := GrowLastPartition(img); err == nil {
		t.Error("grow on a disk smaller than its GPT: no error")
	}
}

// TestGrowLoopDevice grows a disk behind a loop device and tells the kernel,
// as init does at first boot.
func TestGrowLoopDevice(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "losetup")
	img, _, _ := testDisk(t, t.TempDir(), "loop")
	dev := strings.TrimSpace(run(t, "losetup", "--find", "--show", "--partscan", img))
	defer run(t, "losetup", "-d", dev)
	sysSize := func(p string) string {
		b, err := os.ReadFile("/sys/class/block/" + filepath.Base(dev) + "/" + filepath.Base(dev) + p + "/size")
		if err != nil {
			t.Skipf("no partition %s of %s in sysfs (%v): kernel without GPT support (CONFIG_EFI_PARTITION) or loop partitions", p, dev, err)
		}
		return strings.TrimSpace(string(b))
	}
	if s := sysSize("p4"); s != "524288" {
		t.Fatalf("p4 size %s before", s)
	}
	if err := os.Truncate(img, (898+100)*MiB); err != nil {
		t.Fatal(err)
	}
	run(t, "losetup", "--set-capacity", dev)
	if grown, err := GrowLastPartition(dev); err != nil || !grown {
		t.Fatalf("grow %s: %v %v", dev, grown, err)
	}
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ReReadPartitions(f); err != nil {
		t.Fatal(err)
	}
	if s := sysSize("p4"); s != "729088" {
		t.Errorf("p4 size %s after BLKRRPART, want 729088", s)
	}
}
