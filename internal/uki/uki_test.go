package uki

import (
	"bytes"
	"context"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/initramfs"
	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vm"
)

func needStub(t *testing.T) {
	t.Helper()
	testenv.NeedCommand(t, "objcopy")
	if _, err := os.Stat(DefaultStub); err != nil {
		t.Skipf("needs %s (Debian's systemd-boot-efi; the setup script installs it)", DefaultStub)
	}
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testOptions use blobs for the kernel and initrd: these tests check
// the PE layout, not a boot.
func testOptions(t *testing.T) Options {
	kern := bytes.Repeat([]byte("K"), 3*pageSize+5)
	initrd := bytes.Repeat([]byte("I"), 7777)
	return Options{
		Out:       filepath.Join(t.TempDir(), "flotilla.efi"),
		Kernel:    writeFile(t, "vmlinuz", kern),
		Initrd:    writeFile(t, "initrd", initrd),
		Cmdline:   "console=ttyS0 flotilla.slot=A",
		OSRelease: "ID=flotilla\nVERSION_ID=1\n",
		Logf:      t.Logf,
	}
}

// objdumpSections parses `objdump -h`: name -> VMA.
func objdumpSections(t *testing.T, image string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command("objdump", "-h", image).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	got := map[string]uint64{}
	re := regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		vma, _ := strconv.ParseUint(m[2], 16, 64)
		got[m[1]] = vma
	}
	return got
}

// section extracts one section's contents with objcopy.
func section(t *testing.T, image, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "section")
	if b, err := exec.Command("objcopy", "-O", "binary", "--only-section="+name, image, out).CombinedOutput(); err != nil {
		t.Fatalf("objcopy --only-section=%s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuild(t *testing.T) {
	needStub(t)
	testenv.NeedCommand(t, "objdump")
	opts := testOptions(t)
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	secs := objdumpSections(t, opts.Out)
	t.Logf("objdump -h: %v", secs)

	// ukify's placement: after the stub's last section (.sdmagic), 4 KiB
	// aligned, in order, .linux last.
	stub := objdumpSections(t, DefaultStub)
	var stubEnd uint64
	for name, vma := range stub {
		if secs[name] != vma {
			t.Errorf("stub section %s moved: %#x -> %#x", name, vma, secs[name])
		}
		stubEnd = max(stubEnd, vma)
	}
	prev := stubEnd
	for _, name := range []string{".osrel", ".cmdline", ".initrd", ".linux"} {
		vma, ok := secs[name]
		if !ok {
			t.Fatalf("objdump -h lists no %s", name)
		}
		if vma%pageSize != 0 || vma <= prev {
			t.Errorf("%s at %#x: want 4 KiB aligned and after %#x", name, vma, prev)
		}
		prev = vma
	}

	for name, want := range map[string]string{
		".osrel": opts.OSRelease, ".cmdline": opts.Cmdline,
		".initrd": opts.Initrd, ".linux": opts.Kernel,
	} {
		w := []byte(want)
		if strings.HasPrefix(want, "/") {
			w, _ = os.ReadFile(want)
		}
		if got := section(t, opts.Out, name); !bytes.Equal(got, w) {
			t.Errorf("section %s: %d bytes differ from the input's %d", name, len(got), len(w))
		}
	}

	// Same inputs, another day: same bytes (objcopy would stamp the time).
	first, _ := os.ReadFile(opts.Out)
	f, err := pe.Open(opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	if f.FileHeader.TimeDateStamp != 0 {
		t.Errorf("PE timestamp %d, want the stub's 0", f.FileHeader.TimeDateStamp)
	}
	f.Close()
	time.Sleep(1100 * time.Millisecond)
	opts.Out = filepath.Join(t.TempDir(), "again.efi")
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(opts.Out); !bytes.Equal(first, again) {
		t.Fatal("two builds from the same inputs differ")
	}
}

func TestBuildErrors(t *testing.T) {
	needStub(t)
	for name, tc := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"stub":   {func(o *Options) { o.Stub = "/nonexistent.stub" }, "apt-get install systemd-boot-efi"},
		"kernel": {func(o *Options) { o.Kernel = "/nonexistent" }, "Options.Kernel"},
		"initrd": {func(o *Options) { o.Initrd = t.TempDir() }, "Options.Initrd"},
		"out":    {func(o *Options) { o.Out = "" }, "Options.Out"},
		"notpe":  {func(o *Options) { o.Stub = o.Kernel }, "not a PE image"},
	} {
		o := testOptions(t)
		tc.mod(&o)
		if err := Build(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build = %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

// TestBootOVMF boots a UKI as EFI/BOOT/BOOTX64.EFI on a FAT disk under
// OVMF: the stub must pass .cmdline and .initrd to the kernel, whose init
// (initramfs/testdata/testinit) loads efivarfs, which only works on UEFI.
func TestBootOVMF(t *testing.T) {
	testenv.NeedSlow(t)
	needStub(t)
	for _, c := range []string{"qemu-system-x86_64", "mformat", "mcopy", "mmd"} {
		testenv.NeedCommand(t, c)
	}
	for _, f := range []string{vm.OVMFCode, vm.OVMFVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("needs %s (Debian's ovmf; the setup script installs it)", f)
		}
	}
	k, err := kernel.Find("/")
	if err != nil {
		t.Skip(err)
	}
	mods, err := k.Closure("efivarfs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	init := filepath.Join(dir, "testinit")
	cmd := exec.Command("go", "build", "-trimpath", "-o", init, "../initramfs/testdata/testinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test init: %v\n%s", err, b)
	}
	initrd := filepath.Join(dir, "initramfs.cpio.gz")
	if err := initramfs.Build(initramfs.Options{Out: initrd, Init: init, Kernel: k, Modules: mods, Commands: []string{}}); err != nil {
		t.Fatal(err)
	}
	const marker = "flotilla.test=uki-cmdline"
	image := filepath.Join(dir, "flotilla.efi")
	if err := Build(Options{Out: image, Kernel: k.Image, Initrd: initrd, Cmdline: "console=ttyS0 panic=-1 " + marker, OSRelease: "ID=flotilla\n"}); err != nil {
		t.Fatal(err)
	}
	esp := filepath.Join(dir, "esp.img")
	if err := os.WriteFile(esp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(esp, 64<<20); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"mformat", "-i", esp, "-F", "::"},
		{"mmd", "-i", esp, "::/EFI", "::/EFI/BOOT"},
		{"mcopy", "-i", esp, image, "::/EFI/BOOT/BOOTX64.EFI"},
	} {
		if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	log := boot(t, 4*time.Minute, vm.Options{Disk: esp})
	if !regexp.MustCompile(`Kernel command line: .*` + regexp.QuoteMeta(marker)).MatchString(log) {
		t.Errorf("the kernel did not get .cmdline; console:\n%s", log)
	}
	if !strings.Contains(log, "TESTINIT DONE loaded=1 absent=0 failed=0") {
		t.Errorf("init did not load efivarfs under UEFI; console:\n%s", log)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// boot runs a VM (internal/vm: it logs the command line, picks the
// accelerator and boots a disk through OVMF) with no network, and returns
// the serial console once the guest powers off.
func boot(t *testing.T, timeout time.Duration, opts vm.Options) string {
	t.Helper()
	opts.Name, opts.Dir, opts.NoUserNet, opts.Logf = "boot", vm.LogDir(t), true, t.Logf
	v, err := vm.Run(context.Background(), opts, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU powered off after %s", time.Since(v.Started()).Round(100*time.Millisecond))
	return v.Log()
}
