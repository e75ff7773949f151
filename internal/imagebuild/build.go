package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/initramfs"
	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/uki"
	"github.com/flotilla-os/flotilla/internal/verity"
)

// Options of one build.
type Options struct {
	Out     string // output directory
	Version string // semver without "v", e.g. 1.2.0
	Channel string // update channel; default "stable"
	Nodes   int    // > 1: also per-node configs and disks for an N-node cluster
	// SourceDateEpoch stamps every file; same inputs and epoch → same bytes.
	SourceDateEpoch int64
	// Images are container image archives (docker-archive or oci-archive
	// tars) baked into the root at /usr/share/flotilla/images/<base name>.
	Images []string
	// DebugShell puts flotilla.debug=1 on the kernel command line.
	DebugShell bool
	// Update, when set, is written into every node's config.
	Update *bootconfig.Update
	// Root is the repository; default: found from the working directory.
	Root string
	// KernelRoot is where /boot and /lib/modules are looked for; default "/".
	KernelRoot string
	// BrokenInit (tests only) builds an init that panics as PID 1, with
	// this reason: a payload that can never boot.
	BrokenInit string
	// SecureBoot, when set, signs the UKI and systemd-boot with the user's
	// key (sbsign). The UKI's command line, the verity root hash on it,
	// is then covered by the firmware's check.
	SecureBoot *SecureBoot
	Logf       func(format string, args ...any)
}

// Result names what a build wrote.
type Result struct {
	Disk      string   // DIR/disk.img
	NodeDisks []string // DIR/node-K/disk.img, K = 1..N (N > 1)
	Payload   string   // DIR/payload
	Kernel    string   // DIR/boot/vmlinuz
	Initramfs string   // DIR/boot/initramfs.img
	Cmdline   string   // the kernel command line in the UKI (slot A)
	// Verity is the root's dm-verity tree, appended to root.squashfs: its
	// root hash is on Cmdline.
	Verity   verity.Params
	Manifest Manifest
}

// Manifest describes a payload (internal/payload owns the format).
type Manifest = payload.Manifest

// Artifact is one file of a payload.
type Artifact = payload.Artifact

// Build runs every step.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Version == "" {
		o.Version = "0.1.0"
	}
	if o.Channel == "" {
		o.Channel = "stable"
	}
	if o.KernelRoot == "" {
		o.KernelRoot = "/"
	}
	if o.Root == "" {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		o.Root = root
	}
	// Tools such as gobusybox change directory: every path must be absolute.
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	o.Out = out
	if err := validVersion(o.Version); err != nil {
		return nil, err
	}
	for _, f := range []struct{ path, pkg string }{
		{uki.DefaultStub, "systemd-boot-efi"},
		{systemdBoot, "systemd-boot-efi"},
	} {
		if err := mustExist(f.path, f.pkg); err != nil {
			return nil, err
		}
	}
	k, err := kernel.Find(o.KernelRoot)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	step := func(format string, args ...any) {
		o.Logf("[%5.1fs] "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	build := filepath.Join(o.Out, "build")
	payload := filepath.Join(o.Out, "payload")
	boot := filepath.Join(o.Out, "boot")
	for _, d := range []string{build, payload, boot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	res := &Result{Payload: payload, Kernel: filepath.Join(boot, "vmlinuz"), Initramfs: filepath.Join(boot, "initramfs.img")}

	step("go binaries")
	bins, err := buildBinaries(ctx, o.Root, filepath.Join(build, "bin"), o.Version, o.BrokenInit, o.Logf)
	if err != nil {
		return nil, err
	}
	osRelease := osRelease(o.Version)

	step("initramfs (kernel %s)", k.Version)
	// The initramfs's debug tools (/bbin) go into the root too: stage 2's
	// debug shell runs after switch_root has freed the initramfs.
	tools := filepath.Join(build, "bbin")
	if err := os.RemoveAll(tools); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tools, 0o755); err != nil {
		return nil, err
	}
	mods, err := k.Closure(kernel.BootModules...)
	if err != nil {
		return nil, err
	}
	files := map[string]string{"/etc/os-release": writeTemp(build, "os-release", osRelease)}
	storage, err := k.Closure(kernel.StorageModules...)
	if err != nil {
		return nil, err
	}
	var storageList strings.Builder
	have := map[string]bool{}
	for _, m := range mods {
		have[m.Path] = true
	}
	for _, m := range storage {
		if !have[m.Path] {
			files["/lib/modules/"+k.Version+"/"+m.Path] = filepath.Join(k.ModulesDir, m.Path)
			storageList.WriteString(m.Path + "\n")
		}
	}
	files["/"+StorageModulesList] = writeTemp(build, "modules-storage.load", storageList.String())
	if err := initramfs.Build(initramfs.Options{
		Out: res.Initramfs, Init: bins["init"], Kernel: k, Modules: mods,
		Files:           files,
		ToolsDir:        tools,
		SourceDateEpoch: o.SourceDateEpoch, Logf: o.Logf, GoModDir: o.Root, TempDir: build,
	}); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	step("root squashfs (slot contents)")
	tree, err := rootTree(bins, tools, osRelease, o.Images)
	if err != nil {
		return nil, err
	}
	rootImg := filepath.Join(payload, "root.squashfs")
	size, err := diskimage.Squashfs(tree, rootImg, o.SourceDateEpoch)
	if err != nil {
		return nil, fmt.Errorf("root squashfs: %w", err)
	}
	vp, err := appendVerity(rootImg)
	if err != nil {
		return nil, err
	}
	if int64(vp.Size()) > diskimage.DefaultLayout.Root {
		return nil, fmt.Errorf("root squashfs is %d MiB with its hash tree, more than a %d MiB slot", vp.Size()>>20, diskimage.DefaultLayout.Root>>20)
	}
	step("root squashfs: %.1f MiB, dm-verity tree %.2f MiB, root hash %x", float64(size)/(1<<20),
		float64(vp.Size()-vp.HashOffset)/(1<<20), vp.RootHash)

	if err := copyFile(k.Image, res.Kernel); err != nil {
		return nil, err
	}
	res.Verity = vp
	res.Cmdline = Cmdline("A", o.DebugShell, VerityCmdline(vp))
	if err := os.WriteFile(filepath.Join(boot, "cmdline"), []byte(res.Cmdline+"\n"), 0o644); err != nil {
		return nil, err
	}

	step("unified kernel image")
	ukiPath := filepath.Join(payload, "uki.efi")
	if err := uki.Build(uki.Options{Out: ukiPath, Kernel: k.Image, Initrd: res.Initramfs,
		Cmdline: res.Cmdline, OSRelease: osRelease}); err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	loader := systemdBoot
	if o.SecureBoot != nil {
		step("Secure Boot: signing the UKI and systemd-boot")
		if err := o.SecureBoot.sign(ukiPath, ukiPath); err != nil {
			return nil, err
		}
		loader = filepath.Join(build, "systemd-bootx64.efi.signed")
		if err := o.SecureBoot.sign(systemdBoot, loader); err != nil {
			return nil, err
		}
	}
	res.Manifest = Manifest{Version: o.Version, Channel: o.Channel, Arch: "x86_64"}
	if res.Manifest.UKI, err = describe(ukiPath); err != nil {
		return nil, err
	}
	if res.Manifest.Root, err = describe(rootImg); err != nil {
		return nil, err
	}
	mb, _ := json.MarshalIndent(res.Manifest, "", "  ")
	if err := os.WriteFile(filepath.Join(payload, "manifest.json"), append(mb, '\n'), 0o644); err != nil {
		return nil, err
	}
	step("payload: UKI %.1f MiB + root %.1f MiB", float64(res.Manifest.UKI.Size)/(1<<20), float64(res.Manifest.Root.Size)/(1<<20))

	step("cluster PKI and first-boot configs")
	configs, err := nodeConfigs(o.Out, o.Nodes, o.Update)
	if err != nil {
		return nil, err
	}
	diskFor := func(cfg *bootconfig.Config, dir string) (string, error) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		cb, err := bootconfig.Marshal(cfg)
		if err != nil {
			return "", err
		}
		if _, err := bootconfig.Parse(cb, "generated config"); err != nil {
			return "", fmt.Errorf("image-build wrote a config that does not validate: %w", err)
		}
		cfgPath := filepath.Join(dir, "config.json")
		if err := os.WriteFile(cfgPath, cb, 0o600); err != nil {
			return "", err
		}
		esp := filepath.Join(dir, "esp.img")
		if err := buildESP(esp, loader, ukiPath, o.Version, cfgPath, o.SourceDateEpoch); err != nil {
			return "", fmt.Errorf("ESP: %w", err)
		}
		disk := filepath.Join(dir, "disk.img")
		err = diskimage.Disk(disk, diskimage.DefaultLayout.Parts(esp, rootImg, ""),
			diskimage.DiskOptions{Seed: "flotilla " + o.Version + " " + cfg.Hostname})
		if err != nil {
			return "", fmt.Errorf("disk: %w", err)
		}
		os.Remove(esp)
		return disk, nil
	}
	step("disk image")
	if res.Disk, err = diskFor(configs[0], o.Out); err != nil {
		return nil, err
	}
	for k := 1; k < len(configs); k++ {
		step("disk image of %s", NodeName(k))
		d, err := diskFor(configs[k], filepath.Join(o.Out, fmt.Sprintf("node-%d", k)))
		if err != nil {
			return nil, err
		}
		res.NodeDisks = append(res.NodeDisks, d)
	}
	step("done: %s", res.Disk)
	return res, nil
}

// StorageModulesList names, in the initramfs, the real-disk drivers (SATA,
// NVMe) init loads only when the boot disk does not show up without them.
const StorageModulesList = node.StorageModulesList

// Cmdline is the kernel command line of a slot's UKI. panic=10 reboots
// 10 s after a kernel panic, and softlockup_panic=1 makes a CPU stuck in
// the kernel for 20 s a panic: a wedged node reboots (and boot counting
// judges a new version that wedges) instead of hanging. One rolling update
// under TCG saw ksoftirqd stuck for minutes while a node shut down.
func Cmdline(slot string, debug bool, v node.Verity) string {
	return node.Cmdline{Slot: slot, Debug: debug, Verity: v, Params: []string{
		"console=ttyS0,115200", "random.trust_cpu=on", "panic=10", "softlockup_panic=1", "loglevel=4",
	}}.String()
}

func osRelease(version string) string {
	return fmt.Sprintf("NAME=Flotilla\nID=flotilla\nPRETTY_NAME=\"Flotilla %s\"\nVERSION=%s\nVERSION_ID=%s\nIMAGE_VERSION=%s\nHOME_URL=https://github.com/flotilla-os/flotilla\n",
		version, version, version, version)
}

func validVersion(v string) error {
	if v == "" || strings.HasPrefix(v, "v") || strings.ContainsAny(v, " /+\t\n") {
		return fmt.Errorf("--version %q: want a semantic version such as 1.2.0 (no leading v, no '+' or spaces)", v)
	}
	parts := strings.SplitN(strings.SplitN(v, "-", 2)[0], ".", 4)
	if len(parts) != 3 {
		return fmt.Errorf("--version %q: want MAJOR.MINOR.PATCH such as 1.2.0", v)
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("--version %q: want MAJOR.MINOR.PATCH such as 1.2.0", v)
		}
	}
	return nil
}

func describe(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Path: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func writeTemp(dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		panic(err)
	}
	return p
}

var errNoImage = errors.New("no such image archive")
