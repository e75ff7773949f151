package initramfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vm"
)

// buildTestInit builds testdata/testinit as a static binary.
func buildTestInit(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "testinit")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-buildid=", "-o", out, "./testdata/testinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test init: %v\n%s", err, b)
	}
	return out
}

func findKernel(t *testing.T) *kernel.Kernel {
	t.Helper()
	k, err := kernel.Find("/")
	if errors.Is(err, kernel.ErrNoKernel) {
		t.Skip("needs Debian's linux-image-amd64 installed (the setup script installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testOptions are a small archive: two modules, an extra file, no tools.
func testOptions(t *testing.T, init string) Options {
	t.Helper()
	k := findKernel(t)
	mods, err := k.Closure("squashfs", "virtio_rng")
	if err != nil {
		t.Fatal(err)
	}
	osRelease := filepath.Join(t.TempDir(), "os-release")
	if err := os.WriteFile(osRelease, []byte("ID=flotilla\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Owned by someone else on the host: the archive must still say root.
	if err := os.Chown(osRelease, 1000, 1000); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	return Options{
		Out:             filepath.Join(t.TempDir(), "initramfs.cpio.gz"),
		Init:            init,
		Kernel:          k,
		Modules:         mods,
		Files:           map[string]string{"/etc/os-release": osRelease},
		Commands:        []string{},
		SourceDateEpoch: 1700000000,
		TempDir:         t.TempDir(),
		Logf:            t.Logf,
	}
}

func build(t *testing.T, opts Options) []byte {
	t.Helper()
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cpioList is `cpio -tv` of an archive, decompressed with the real tool.
func cpioList(t *testing.T, archive string, comp Compression) string {
	t.Helper()
	testenv.NeedCommand(t, "cpio")
	out, err := exec.Command("sh", "-c", string(comp)+" -dc < '"+archive+"' | cpio -itv --quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	return string(out)
}

func TestBuildArchive(t *testing.T) {
	testenv.NeedCommand(t, "cpio")
	opts := testOptions(t, "/bin/true")
	first := build(t, opts)

	// Same inputs, another scratch directory and output: same bytes.
	again := opts
	again.Out = filepath.Join(t.TempDir(), "again.cpio.gz")
	again.TempDir = t.TempDir()
	if !bytes.Equal(first, build(t, again)) {
		t.Fatal("two builds from the same inputs differ")
	}

	list := cpioList(t, opts.Out, DefaultCompression)
	t.Logf("cpio -tv:\n%s", list)
	for _, want := range []string{
		`(?m)^crw------- +1 root +root +5, +1 Nov 14  2023 dev/console$`,
		`(?m)^drwxrwxrwt .* tmp$`,
		`(?m)^dr-xr-xr-x .* proc$`,
		`(?m)^drwxr-xr-x .* sysroot$`,
		`(?m)^drwxr-xr-x .* lib/modules/` + regexp.QuoteMeta(opts.Kernel.Version) + `/kernel/fs/squashfs$`,
		`(?m)^-rwxr-xr-x .* init$`,
		`(?m)^-rw-r--r-- .* etc/os-release$`,
	} {
		if !regexp.MustCompile(want).MatchString(list) {
			t.Errorf("listing lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?m)^drwxrwxrwx `).MatchString(list) {
		t.Error("a directory is 0777")
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if f := strings.Fields(line); len(f) < 4 || f[2] != "root" || f[3] != "root" {
			t.Errorf("not owned by root:root: %s", line)
		}
	}

	// Extract with the real tool and compare contents.
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", string(DefaultCompression)+" -dc < '"+opts.Out+"' | cpio -idm --quiet --no-absolute-filenames")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	same := map[string]string{"init": "/bin/true", "etc/os-release": opts.Files["/etc/os-release"]}
	var load strings.Builder
	for _, m := range opts.Modules {
		same[filepath.Join("lib/modules", opts.Kernel.Version, m.Path)] = filepath.Join(opts.Kernel.ModulesDir, m.Path)
		load.WriteString(m.Path + "\n")
	}
	for dst, src := range same {
		a, err := os.ReadFile(filepath.Join(dir, dst))
		if err != nil {
			t.Error(err)
			continue
		}
		b, _ := os.ReadFile(src)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s", dst, src)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, ModulesLoad))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != load.String() || !strings.HasSuffix(load.String(), "/virtio-rng.ko\n") {
		t.Errorf("%s = %q, want %q", ModulesLoad, got, load.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "init"))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(opts.SourceDateEpoch, 0); !fi.ModTime().Equal(want) {
		t.Errorf("init mtime %v, want SourceDateEpoch %v", fi.ModTime(), want)
	}
}

func TestBuildXZ(t *testing.T) {
	testenv.NeedCommand(t, "xz")
	opts := testOptions(t, "/bin/true")
	opts.Compression = XZ
	opts.Out = filepath.Join(t.TempDir(), "initramfs.cpio.xz")
	build(t, opts)
	// The kernel's decoder takes CRC32 or no check, not xz's CRC64 default.
	out, err := exec.Command("xz", "--robot", "--list", opts.Out).CombinedOutput()
	if err != nil {
		t.Fatalf("xz --list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CRC32") {
		t.Errorf("xz --list shows no CRC32 check:\n%s", out)
	}
	if list := cpioList(t, opts.Out, XZ); !strings.Contains(list, "etc/os-release") {
		t.Errorf("xz archive listing lacks etc/os-release:\n%s", list)
	}
}

func TestBuildGzip(t *testing.T) {
	testenv.NeedCommand(t, "gzip")
	opts := testOptions(t, "/bin/true")
	opts.Compression = Gzip
	first := build(t, opts)
	opts.Out = filepath.Join(t.TempDir(), "again.cpio.gz")
	if !bytes.Equal(first, build(t, opts)) {
		t.Fatal("two gzip builds from the same inputs differ")
	}
	if list := cpioList(t, opts.Out, Gzip); !strings.Contains(list, "etc/os-release") {
		t.Errorf("gzip archive listing lacks etc/os-release:\n%s", list)
	}
}

func TestBuildEpochMatters(t *testing.T) {
	opts := testOptions(t, "/bin/true")
	a := build(t, opts)
	opts.SourceDateEpoch++
	opts.Out += ".2"
	if bytes.Equal(a, build(t, opts)) {
		t.Fatal("SourceDateEpoch does not reach the archive")
	}
}

func TestBuildErrors(t *testing.T) {
	opts := testOptions(t, "/bin/true")
	for name, tc := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"no init":     {func(o *Options) { o.Init = "/nonexistent/init" }, "Options.Init"},
		"no out":      {func(o *Options) { o.Out = "" }, "Options.Out"},
		"clash":       {func(o *Options) { o.Files = map[string]string{"init": "/bin/true"} }, "/init already comes from"},
		"no kernel":   {func(o *Options) { o.Kernel = nil }, "Options.Kernel"},
		"compression": {func(o *Options) { o.Compression = "lz4" }, "Compression"},
		"no source":   {func(o *Options) { o.Files = map[string]string{"etc/x": "/nonexistent"} }, "Options.Files[etc/x]"},
	} {
		o := opts
		o.Out = filepath.Join(t.TempDir(), "out")
		tc.mod(&o)
		err := Build(o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Build = %v, want an error mentioning %q", name, err, tc.want)
		}
		if o.Out != "" {
			if _, err := os.Stat(o.Out); err == nil {
				t.Errorf("%s: a failed build left %s", name, o.Out)
			}
		}
	}
}

// TestBuildTools builds the u-root busybox twice (slow: gobusybox passes
// -a, so each build compiles everything) and checks the two archives are
// the same bytes.
func TestBuildTools(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "cpio")
	opts := testOptions(t, "/bin/true")
	opts.Commands = nil
	a := build(t, opts)
	opts.Out = filepath.Join(t.TempDir(), "again.cpio.gz")
	opts.TempDir = t.TempDir()
	opts.ToolsDir = t.TempDir()
	if !bytes.Equal(a, build(t, opts)) {
		t.Fatal("two builds with the u-root busybox differ (or ToolsDir changed the archive)")
	}
	list := cpioList(t, opts.Out, DefaultCompression)
	for _, want := range []string{"-rwxr-xr-x .* bbin/bb", "bbin/gosh -> bb", "bbin/ip -> bb", "bin/sh -> ../bbin/gosh"} {
		if !regexp.MustCompile(want).MatchString(list) {
			t.Errorf("listing lacks %s:\n%s", want, list)
		}
	}
	// ToolsDir holds the same busybox and one link per command.
	bb, err := os.ReadFile(filepath.Join(opts.ToolsDir, "bb"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(fmt.Sprintf(`-rwxr-xr-x .* %d .* bbin/bb\n`, len(bb))).MatchString(list) {
		t.Errorf("ToolsDir/bb has %d bytes, not those of the archive's bbin/bb:\n%s", len(bb), list)
	}
	for _, c := range DefaultCommands {
		link := filepath.Join(opts.ToolsDir, path.Base(c))
		if target, err := os.Readlink(link); err != nil || target != "bb" {
			t.Errorf("ToolsDir/%s: want a link to bb, got %q, %v", path.Base(c), target, err)
		}
	}
	out, err := exec.Command(filepath.Join(opts.ToolsDir, "cat"), filepath.Join(opts.ToolsDir, "bb")).Output()
	if err != nil || !bytes.Equal(out, bb) {
		t.Errorf("ToolsDir/cat (the busybox by its link name) did not run as cat: %v", err)
	}
}

// TestBootModules boots the Debian kernel on an initramfs whose /init is
// testdata/testinit: it must load every module in BootModules' closure.
func TestBootModules(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	k := findKernel(t)
	mods, err := k.Closure(kernel.BootModules...)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Out:             filepath.Join(t.TempDir(), "initramfs.cpio.gz"),
		Init:            buildTestInit(t),
		Kernel:          k,
		Modules:         mods,
		SourceDateEpoch: 1,
		TempDir:         t.TempDir(),
		Logf:            t.Logf,
	}
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	log := boot(t, 150*time.Second, vm.Options{Kernel: k.Image, Initrd: opts.Out,
		Append: "console=ttyS0 panic=-1 random.trust_cpu=on"})
	// Without UEFI firmware efivarfs has nothing to serve: ENODEV.
	absent := regexp.MustCompile(`TESTINIT MODULE ABSENT (\S+)`).FindAllStringSubmatch(log, -1)
	for _, m := range absent {
		if kernel.ModuleName(m[1]) != "efivarfs" {
			t.Errorf("module %s found no device", m[1])
		}
	}
	m := regexp.MustCompile(`TESTINIT DONE loaded=(\d+) absent=(\d+) failed=0`).FindStringSubmatch(log)
	if m == nil || m[1] != strconv.Itoa(len(mods)-len(absent)) {
		t.Fatalf("want all %d modules loaded (but efivarfs); console:\n%s", len(mods), log)
	}
	t.Logf("%d modules loaded, %d absent", len(mods)-len(absent), len(absent))
}

// boot runs a VM (internal/vm: it logs the command line and picks the
// accelerator) with no network, and returns the serial console once the
// guest powers off.
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
