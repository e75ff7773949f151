package container

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseDevice: an AddDevice= value is refused, or names an absolute
// host path, a clean container path below /dev (the only mount that isn't
// nodev) and permissions made of r, w and m.
func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"/dev/fuse", "-/dev/net/tun", "/dev/kmsg:/dev/log0:r", "/dev/sda:rw", "/dev/x:/dev/../etc:rwm", "dev:/dev/y", "/a:/b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := ParseDevice(v)
		if err != nil {
			return
		}
		if !filepath.IsAbs(d.Host) {
			t.Fatalf("%q: host %q not absolute", v, d.Host)
		}
		if filepath.Clean(d.Container) != d.Container || !strings.HasPrefix(d.Container, "/dev/") {
			t.Fatalf("%q: container path %q escapes /dev", v, d.Container)
		}
		if d.Access == "" || strings.Trim(d.Access, "rwm") != "" {
			t.Fatalf("%q: access %q", v, d.Access)
		}
	})
}
