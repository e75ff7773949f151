package imagebuild

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// hostTools are Debian binaries the root carries, with the package that
// provides each: init formats and grows STATE with e2fsprogs.
var hostTools = []struct{ path, pkg string }{
	{"/sbin/mke2fs", "e2fsprogs"},
	{"/sbin/resize2fs", "e2fsprogs"},
	{"/sbin/e2fsck", "e2fsprogs"},
}

// hostData are plain files copied from the build host.
var hostData = []struct{ src, dst, pkg string }{
	{"/etc/mke2fs.conf", "/etc/mke2fs.conf", "e2fsprogs"},
	{"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", "ca-certificates"},
}

// sharedLibraries lists the real paths of the shared objects (and the ELF
// interpreter) that the dynamically linked binaries need, as ldd resolves
// them; dst is where each goes in the image.
func sharedLibraries(bins []string) (map[string]string, error) {
	libs := map[string]string{}
	for _, bin := range bins {
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %v (install Debian's libc-bin)", bin, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			var path string
			switch {
			case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
				path = f[2]
			case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
				path = f[0] // the interpreter, e.g. /lib64/ld-linux-x86-64.so.2
			default:
				continue
			}
			// Keep the path the binary asks for, with merged-/usr
			// prefixes folded: /usr/lib/x → /lib/x.
			dst := strings.TrimPrefix(path, "/usr")
			real, err := filepath.EvalSymlinks(path)
			if err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", bin, path, err)
			}
			libs[dst] = real
		}
	}
	return libs, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func mustExist(path, pkg string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s missing: install Debian's %s (apt-get install %s)", path, pkg, pkg)
	}
	return nil
}
