package initramfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/node"
)

// DefaultCommands are the u-root commands of the debug shell, built into
// one busybox at /bbin/bb with a symlink per command (/bbin/ls -> bb).
var DefaultCommands = []string{
	"github.com/u-root/u-root/cmds/core/gosh",
	"github.com/u-root/u-root/cmds/core/ls",
	"github.com/u-root/u-root/cmds/core/cat",
	"github.com/u-root/u-root/cmds/core/ip",
	"github.com/u-root/u-root/cmds/core/dmesg",
	"github.com/u-root/u-root/cmds/core/mount",
	"github.com/u-root/u-root/cmds/core/ps",
}

// ModulesLoad is where the archive lists its modules for init, one path
// relative to /lib/modules/<kver>/ per line, in load order.
const ModulesLoad = node.ModulesList

// Options say what goes into the archive.
type Options struct {
	// Out is the archive to write (replaced atomically on success).
	Out string
	// Init is an already-built static binary, installed as /init.
	Init string
	// Kernel and Modules: each module's file goes to
	// /lib/modules/<Kernel.Version>/<Path>, and ModulesLoad lists them in
	// the given order (Kernel.Closure's load order).
	Kernel  *kernel.Kernel
	Modules []kernel.Module
	// Files are extras: destination in the archive -> source on the host.
	Files map[string]string
	// Commands are Go packages built into the busybox; nil means
	// DefaultCommands, an empty non-nil slice means no tools.
	Commands []string
	// GoModDir is a directory in a Go module that requires
	// github.com/u-root/u-root (Flotilla's own does); the tools are built
	// from that version in the module cache. Empty means the current
	// directory.
	GoModDir string
	// SourceDateEpoch is every record's mtime (seconds since 1970).
	SourceDateEpoch int64
	// Compression of the archive; empty means DefaultCompression.
	Compression Compression
	// ToolsDir, when set, is an empty directory that also receives the
	// archive's /bbin: the busybox and a symlink per command, for a root
	// that wants the same debug tools after switch_root.
	ToolsDir string
	// TempDir is where the build's scratch directory goes; empty means
	// os.TempDir().
	TempDir string
	// Logf reports progress at each long step; nil means silence.
	Logf func(format string, args ...any)
}

// Build writes the archive that opts describe to opts.Out.
func Build(opts Options) error {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	comp := opts.Compression
	if comp == "" {
		comp = DefaultCompression
	}
	if _, ok := compressors[comp]; !ok {
		return fmt.Errorf("initramfs: Compression %q: use %q or %q", comp, Gzip, XZ)
	}
	if opts.Out == "" {
		return errors.New("initramfs: Options.Out is empty: name the archive to write")
	}
	if fi, err := os.Stat(opts.Init); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("initramfs: Options.Init %q must be a built init binary: %v", opts.Init, err)
	}
	if len(opts.Modules) > 0 && opts.Kernel == nil {
		return errors.New("initramfs: Options.Modules given without Options.Kernel: pass the kernel.Find result")
	}
	cmds := opts.Commands
	if cmds == nil {
		cmds = DefaultCommands
	}

	tmp, err := os.MkdirTemp(opts.TempDir, "initramfs-")
	if err != nil {
		return fmt.Errorf("initramfs: scratch directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	files, err := hostFiles(opts)
	if err != nil {
		return err
	}
	base, err := baseRecords(opts, files)
	if err != nil {
		return err
	}
	var extra []string
	for dst, src := range files {
		extra = append(extra, src+":"+dst)
	}
	slices.Sort(extra)

	out := &output{
		path:  opts.Out,
		epoch: opts.SourceDateEpoch,
		comp:  comp,
		tools: opts.ToolsDir,
	}
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"), golang.WithWorkingDir(opts.GoModDir))
	mods := []uimage.Modifier{
		uimage.WithReplaceEnv(env),
		uimage.WithTempDir(tmp),
		uimage.WithSkipLDD(),
		uimage.WithFiles(extra...),
		uimage.WithBaseArchive(base),
		uimage.WithOutput(out),
	}
	if len(cmds) > 0 {
		mods = append(mods,
			uimage.WithBusyboxCommands(cmds...),
			// gobusybox already passes -trimpath and -ldflags "-s -w -buildid=".
			uimage.WithBusyboxBuildOpts(&golang.BuildOpts{ExtraArgs: []string{"-buildvcs=false"}}),
		)
		if slices.ContainsFunc(cmds, func(c string) bool { return path.Base(c) == "gosh" }) {
			mods = append(mods, uimage.WithShell("gosh"))
		}
		logf("initramfs: building %d u-root commands into /bbin/bb (gobusybox, %s)", len(cmds), env)
	}
	l := llog.New(slog.LevelWarn, func(format string, args ...any) { logf("initramfs: mkuimage: "+format, args...) })
	if err := uimage.Create(l, mods...); err != nil {
		out.abort()
		return fmt.Errorf("initramfs: build %s: %w", opts.Out, err)
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("initramfs: write %s: %w", opts.Out, err)
	}
	fi, err := os.Stat(opts.Out)
	if err != nil {
		return err
	}
	logf("initramfs: wrote %s (%s, %d records, %.1f MiB)", opts.Out, comp, out.records, float64(fi.Size())/(1<<20))
	return nil
}

// hostFiles maps each archive path (relative, cleaned) to its host source:
// init, the modules, and opts.Files.
func hostFiles(opts Options) (map[string]string, error) {
	files := map[string]string{"init": opts.Init}
	add := func(dst, src, what string) error {
		dst = strings.TrimPrefix(path.Clean("/"+dst), "/")
		if dst == "" || dst == "." {
			return fmt.Errorf("initramfs: %s: destination %q is the archive root", what, dst)
		}
		if prev, ok := files[dst]; ok {
			return fmt.Errorf("initramfs: %s: /%s already comes from %s", what, dst, prev)
		}
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("initramfs: %s: %w", what, err)
		}
		files[dst] = src
		return nil
	}
	for _, m := range opts.Modules {
		dst := path.Join("lib/modules", opts.Kernel.Version, m.Path)
		if err := add(dst, filepath.Join(opts.Kernel.ModulesDir, m.Path), "module "+m.Name); err != nil {
			return nil, err
		}
	}
	for dst, src := range opts.Files {
		if err := add(dst, src, "Options.Files["+dst+"]"); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// baseDirs are directories every boot needs before anything is mounted
// on them, with the modes they should have.
var baseDirs = map[string]uint64{
	"bbin": 0o755, "bin": 0o755, "dev": 0o755, "etc": 0o755, "etc/flotilla": 0o755,
	"lib": 0o755, "lib/modules": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755,
	"sysroot": 0o755, "tmp": 0o1777, "root": 0o700,
}

// baseRecords are the records that don't come from host files: explicit
// directories (each parent of a host file too, so nothing is implied),
// /dev/console for the kernel's first open before devtmpfs, and the
// module list.
func baseRecords(opts Options, files map[string]string) (*cpio.Archive, error) {
	dirs := map[string]uint64{}
	for d, mode := range baseDirs {
		dirs[d] = mode
	}
	for dst := range files {
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	var recs []cpio.Record
	for d, mode := range dirs {
		recs = append(recs, cpio.Directory(d, mode))
	}
	recs = append(recs, cpio.CharDev("dev/console", 0o600, 5, 1))
	var load strings.Builder
	for _, m := range opts.Modules {
		load.WriteString(m.Path + "\n")
	}
	recs = append(recs, cpio.StaticFile(ModulesLoad, load.String(), 0o644))
	slices.SortFunc(recs, func(a, b cpio.Record) int { return strings.Compare(a.Name, b.Name) })
	a, err := cpio.ArchiveFromRecords(recs)
	if err != nil {
		return nil, fmt.Errorf("initramfs: base records: %w", err)
	}
	return a, nil
}
