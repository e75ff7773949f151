package diskimage

import (
	"os"
	"strings"
)

// ReadUevent parses a sysfs uevent file (KEY=value lines), such as
// /sys/class/block/vda2/uevent whose PARTNAME names a GPT partition. A
// missing or unreadable file gives nil.
func ReadUevent(path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}
