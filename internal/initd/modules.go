package initd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/node"
)

// ModulesList is the initramfs's list of kernel modules to load, one path a
// line relative to /lib/modules/<uname -r>/, dependencies first (image-build
// writes it from modules.dep). '#' starts a comment.
const ModulesList = "/" + node.ModulesList

// StorageModulesList lists the real-disk drivers loaded only when the boot
// disk does not show up without them (image-build writes it).
const StorageModulesList = "/" + node.StorageModulesList

// ReadModulesList parses a modules.load file.
func ReadModulesList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line != "" {
			mods = append(mods, line)
		}
	}
	return mods, sc.Err()
}

// KernelRelease is uname -r.
func KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// LoadModules loads each module of list (relative to dir) in order with
// finit_module. A module already loaded or built in (EEXIST) is fine; any
// other failure is logged and the rest still load: a missing driver shows
// up later as a missing disk, with this log above it. It returns how many
// modules were loaded now.
func LoadModules(list []string, dir string, logf func(string, ...any)) int {
	n := 0
	for _, m := range list {
		start := time.Now()
		err := loadModule(filepath.Join(dir, m))
		if d := time.Since(start); d > 200*time.Millisecond {
			logf("flotilla: module %s took %s", m, d.Round(time.Millisecond))
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.EEXIST):
		default:
			logf("flotilla: module %s: %v", m, err)
		}
	}
	return n
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}
