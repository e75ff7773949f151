package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/initramfs"
	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/uki"
	"github.com/flotilla-os/flotilla/internal/vm"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

// BenchmarkBoot times a boot to "fleetd ready" on both paths (-kernel and
// OVMF → systemd-boot → UKI), side by side with the floor: the same kernel
// booting a Go init that powers off at once. It also reports the image's
// sizes and the memory in use after boot (MemTotal − MemAvailable, 512 MB
// VM, fleetd and its etcd member idle), as init prints it.
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench Boot -benchtime 1x -timeout 30m ./bench
func BenchmarkBoot(b *testing.B) {
	testenv.NeedSlow(b)
	testenv.NeedCommand(b, "qemu-system-x86_64")
	dir := b.TempDir()
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{Out: filepath.Join(dir, "out"),
		Version: "1.0.0", SourceDateEpoch: 1700000000})
	if err != nil {
		b.Fatal(err)
	}
	floor := buildFloor(b, dir)
	b.Run("image", func(b *testing.B) { reportImage(b, res) })
	for _, path := range []struct {
		name string
		uefi bool
	}{{"kernel", false}, {"uefi", true}} {
		b.Run("floor-"+path.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				opts := vm.Options{Name: "floor-" + path.name, Dir: vm.LogDir(b), Disk: floor.disk, NoUserNet: true, CPUs: bootCPUs()}
				if !path.uefi {
					opts.Disk, opts.Kernel, opts.Initrd, opts.Append = "", floor.kernel, floor.initrd, "console=ttyS0 panic=-1 quiet"
				}
				v, err := vm.Start(context.Background(), opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := v.Wait(3 * time.Minute); err != nil {
					b.Fatalf("%v\n%s", err, v.Log())
				}
				if !strings.Contains(v.Log(), "floor: init reached") {
					b.Fatalf("the floor init never ran:\n%s", v.Log())
				}
				b.ReportMetric(time.Since(v.Started()).Seconds(), "s/boot")
			}
		})
		b.Run("flotilla-"+path.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				o := vmcluster.Options{Res: res, Out: filepath.Join(dir, "out"), UEFI: path.uefi, Dir: vm.LogDir(b), MemoryMB: 512, Grow: 2 << 30, CPUs: bootCPUs()}
				n, err := vmcluster.Boot(context.Background(), o, 1, "boot", res.Disk, "", nil)
				if err != nil {
					b.Fatal(err)
				}
				d, err := n.WaitReady(context.Background(), 5*time.Minute)
				if err != nil {
					n.VM.Kill()
					b.Fatal(err)
				}
				b.ReportMetric(d.Seconds(), "s/boot")
				if _, err := n.VM.WaitFor(context.Background(), "flotilla: memory used", 2*time.Minute, vmcluster.Fatal...); err == nil {
					b.ReportMetric(memoryUsed(n.VM.Log()), "MiB-used")
				}
				n.VM.Kill()
			}
		})
	}
}

// bootCPUs is the vCPUs of the benchmark's VMs, floor and Flotilla alike:
// $FLOTILLA_BOOT_CPUS, default 1.
func bootCPUs() int {
	n, err := strconv.Atoi(os.Getenv("FLOTILLA_BOOT_CPUS"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// memoryUsed reads init's "flotilla: memory used N MiB" console line.
func memoryUsed(log string) float64 {
	i := strings.Index(log, "flotilla: memory used ")
	if i < 0 {
		return 0
	}
	var mib float64
	for _, c := range log[i+len("flotilla: memory used "):] {
		if c < '0' || c > '9' {
			break
		}
		mib = mib*10 + float64(c-'0')
	}
	return mib
}

func reportImage(b *testing.B, res *imagebuild.Result) {
	b.ReportMetric(float64(res.Manifest.UKI.Size+res.Manifest.Root.Size)/1e6, "MB-payload")
	var st syscall.Stat_t
	if err := syscall.Stat(res.Disk, &st); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size)/1e9, "GB-disk")
	b.ReportMetric(float64(st.Blocks*512)/1e6, "MB-disk-data")
}

type floorImage struct{ kernel, initrd, disk string }

// buildFloor builds the floor: the same kernel with an initramfs holding
// only a Go init that powers off, as -kernel files and as a UKI on an ESP.
func buildFloor(b *testing.B, dir string) floorImage {
	root, err := imagebuild.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	initBin := filepath.Join(dir, "floorinit")
	cmd := exec.Command("go", "build", "-trimpath", "-o", initBin, "./bench/testdata/floorinit")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build floor init: %v\n%s", err, out)
	}
	k, err := kernel.Find("/")
	if err != nil {
		b.Fatal(err)
	}
	f := floorImage{kernel: k.Image, initrd: filepath.Join(dir, "floor.cpio"), disk: filepath.Join(dir, "floor.img")}
	if err := initramfs.Build(initramfs.Options{Out: f.initrd, Init: initBin, Kernel: k, Commands: []string{}, GoModDir: root}); err != nil {
		b.Fatal(err)
	}
	ukiPath := filepath.Join(dir, "floor.efi")
	if err := uki.Build(uki.Options{Out: ukiPath, Kernel: k.Image, Initrd: f.initrd,
		Cmdline: "console=ttyS0 panic=-1 quiet", OSRelease: "ID=floor\nVERSION_ID=1\n"}); err != nil {
		b.Fatal(err)
	}
	t := &diskimage.Tree{}
	for _, p := range []string{"/EFI/BOOT/BOOTX64.EFI", "/EFI/Linux/floor.efi"} {
		src := ukiPath
		if strings.Contains(p, "BOOTX64") {
			src = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
		}
		if err := t.AddFile(p, src, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := t.AddBytes("/loader/loader.conf", []byte(imagebuild.LoaderConf), 0o644); err != nil {
		b.Fatal(err)
	}
	esp := filepath.Join(dir, "floor-esp.img")
	if err := diskimage.ESP(t, diskimage.DefaultLayout.ESP, esp, 1700000000); err != nil {
		b.Fatal(err)
	}
	if err := diskimage.Disk(f.disk, diskimage.DefaultLayout.Parts(esp, "", "")[:1], diskimage.DiskOptions{Seed: "floor"}); err != nil {
		b.Fatal(err)
	}
	return f
}
