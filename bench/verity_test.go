package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/initramfs"
	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/verity"
	"github.com/flotilla-os/flotilla/internal/vm"
)

// BenchmarkVerityRead reads a 100 MB file from a squashfs, mounted plainly
// and through dm-verity, from a cold cache each time (drop_caches and a
// fresh mount), three rounds alternating, in a VM on Debian's kernel (this
// host's kernel has no device-mapper). It reports both rates and their
// ratio (target >= 0.8). The file is random, so squashfs stores it
// uncompressed and the read is the device's and verity's cost alone.
// Under TCG (no KVM here) every sha256 is emulated: the ratio is a floor.
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench VerityRead -benchtime 1x ./bench
func BenchmarkVerityRead(b *testing.B) {
	testenv.NeedSlow(b)
	testenv.NeedCommand(b, "qemu-system-x86_64")
	testenv.NeedCommand(b, "mksquashfs")
	k, err := kernel.Find("/")
	if errors.Is(err, kernel.ErrNoKernel) {
		b.Skip("needs Debian's linux-image-amd64 installed (the setup script installs it)")
	}
	if err != nil {
		b.Fatal(err)
	}
	mods, err := k.Closure("virtio_pci", "virtio_blk", "squashfs", "dm_verity")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(tree, 0o755)
	big := make([]byte, 100<<20)
	rand.New(rand.NewSource(1)).Read(big)
	if err := os.WriteFile(filepath.Join(tree, "big"), big, 0o644); err != nil {
		b.Fatal(err)
	}
	big = nil
	disk := filepath.Join(dir, "disk.img")
	if out, err := exec.Command("mksquashfs", tree, disk, "-noappend", "-comp", "zstd", "-quiet").CombinedOutput(); err != nil {
		b.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	p, err := verity.AppendTree(disk, []byte("bench salt"))
	if err != nil {
		b.Fatal(err)
	}
	pj, _ := json.Marshal(p)
	pfile := filepath.Join(dir, "verity.json")
	os.WriteFile(pfile, pj, 0o644)
	init := filepath.Join(dir, "verityread")
	cmd := exec.Command("go", "build", "-trimpath", "-o", init, "./testdata/verityread")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build verityread: %v\n%s", err, out)
	}
	rd := filepath.Join(dir, "initramfs.img")
	if err := initramfs.Build(initramfs.Options{Out: rd, Init: init, Kernel: k, Modules: mods,
		Files: map[string]string{"/verity.json": pfile}, Commands: []string{}, SourceDateEpoch: 1, TempDir: dir}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var plain, verified []float64
	for i := 0; i < b.N; i++ {
		v, err := vm.Run(context.Background(), vm.Options{Name: "verityread", Dir: vm.LogDir(b), Disk: disk,
			Kernel: k.Image, Initrd: rd, Append: "console=ttyS0 panic=-1 loglevel=4", MemoryMB: 1024, NoUserNet: true, Logf: b.Logf},
			15*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		m := regexp.MustCompile(`VERITYREAD verified=(\w+) bytes=(\d+) seconds=([\d.]+)`).FindAllStringSubmatch(v.Log(), -1)
		if len(m) != 6 {
			b.Fatalf("want 6 VERITYREAD lines; console:\n%s", v.Log())
		}
		for _, r := range m {
			n, _ := strconv.ParseFloat(r[2], 64)
			s, _ := strconv.ParseFloat(r[3], 64)
			if r[1] == "true" {
				verified = append(verified, n/1e6/s)
			} else {
				plain = append(plain, n/1e6/s)
			}
		}
	}
	b.StopTimer()
	mean := func(xs []float64) float64 {
		t := 0.0
		for _, x := range xs {
			t += x
		}
		return t / float64(len(xs))
	}
	b.ReportMetric(mean(plain), "plain-MB/s")
	b.ReportMetric(mean(verified), "verity-MB/s")
	b.ReportMetric(mean(verified)/mean(plain), "ratio")
	b.Logf("cold read of 100 MB: plain squashfs %v MB/s, through dm-verity %v MB/s, ratio %.2f",
		fmtRates(plain), fmtRates(verified), mean(verified)/mean(plain))
}

func fmtRates(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x + 0.5)
	}
	return out
}
