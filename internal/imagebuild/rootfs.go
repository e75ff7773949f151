package imagebuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/node"
)

// ImagesDir is where baked container image archives live in the root, for
// units with Image=docker-archive:/usr/share/flotilla/images/NAME.tar.
const ImagesDir = "/usr/share/flotilla/images"

// rootTree lays out a slot's read-only root. Writable state lives on STATE
// (/var) and /run; the few /etc files that change are links into them.
func rootTree(bins map[string]string, debugTools, osRelease string, images []string) (*diskimage.Tree, error) {
	t := &diskimage.Tree{}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	{
		for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/var", "/efi", "/mnt", "/sysroot"} {
			add(t.AddDir(d, 0o755))
		}
		add(t.AddDir("/tmp", 0o777|fs.ModeSticky))
		add(t.AddDir("/root", 0o700))
		add(t.AddFile("/usr/bin/flotilla", bins["flotilla"], 0o755))
		add(t.AddFile("/usr/bin/flotilla-sandbox-init", bins["flotilla-sandbox-init"], 0o755))
		add(t.AddSymlink("/sbin/init", "/usr/bin/flotilla"))
		for _, name := range multiCall {
			add(t.AddSymlink("/usr/bin/"+name, "flotilla"))
		}
		add(t.AddBytes("/etc/os-release", []byte(osRelease), 0o644))
		add(t.AddBytes("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"), 0o644))
		add(t.AddBytes("/etc/group", []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644))
		add(t.AddBytes("/etc/hosts", []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n"), 0o644))
		add(t.AddBytes("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nhosts: files dns\n"), 0o644))
		add(t.AddSymlink("/etc/resolv.conf", node.ResolvConf))
		add(t.AddSymlink("/etc/machine-id", node.MachineIDPath))
		add(t.AddSymlink("/etc/hostname", "/run/hostname"))
	}
	if err := addTools(t, debugTools); err != nil {
		errs = append(errs, err)
	}
	if err := addShell(t); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("root tree: %w", err)
	}
	var tools []string
	for _, tool := range hostTools {
		if err := mustExist(tool.path, tool.pkg); err != nil {
			return nil, err
		}
		if err := t.AddFile("/usr"+tool.path, tool.path, 0o755); err != nil {
			return nil, err
		}
		tools = append(tools, tool.path)
	}
	for _, f := range hostData {
		if err := mustExist(f.src, f.pkg); err != nil {
			return nil, err
		}
		if err := t.AddFile(f.dst, f.src, 0o644); err != nil {
			return nil, err
		}
	}
	libs, err := sharedLibraries(tools)
	if err != nil {
		return nil, err
	}
	for _, dst := range sortedKeys(libs) {
		if err := t.AddFile(dst, libs[dst], 0o755); err != nil {
			return nil, err
		}
	}
	for _, img := range images {
		if _, err := os.Stat(img); err != nil {
			return nil, fmt.Errorf("--image %s: %w", img, errNoImage)
		}
		if err := t.AddFile(ImagesDir+"/"+filepath.Base(img), img, 0o644); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// addTools puts the debug tools initramfs.Build copied out (the busybox
// and its links) under /bbin, where initd.Shells looks first.
func addTools(t *diskimage.Tree, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("debug tools: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	if err := t.AddDir("/bbin", 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		src := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := t.AddSymlink("/bbin/"+e.Name(), target); err != nil {
				return err
			}
			continue
		}
		if err := t.AddFile("/bbin/"+e.Name(), src, 0o755); err != nil {
			return err
		}
	}
	return nil
}
