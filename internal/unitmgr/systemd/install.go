package systemd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// installDirs are the [Install] keys this backend enables, and the
// directory suffix each one's links go in.
var installDirs = map[string]string{"WantedBy": ".wants", "RequiredBy": ".requires"}

// installLinks enables a loaded unit as fleet does (it enables every unit
// with an [Install] section when it loads it) and as systemctl enable
// --runtime would: for each WantedBy=X and RequiredBy=X, a symlink
// UnitDir/X.wants/<name> (or X.requires) to the unit file. Links of this
// unit that its [Install] no longer names are removed. It reports whether
// it changed anything (systemd then needs a daemon-reload).
func (m *Manager) installLinks(name, path string, f *unit.File) (bool, error) {
	sp := unit.Specifiers{Name: name, MachineID: m.cfg.MachineID, Hostname: m.cfg.Hostname}
	want := map[string]bool{}
	for key, suffix := range installDirs {
		for _, v := range f.Values("Install", key) {
			for _, w := range strings.Fields(v) {
				x, err := sp.Expand(w)
				if err == nil {
					_, err = unit.ParseName(x)
				}
				if err != nil {
					m.cfg.Logf("systemdmgr: %s: [Install] %s=%s: %v; ignored", name, key, w, err)
					continue
				}
				want[filepath.Join(m.cfg.UnitDir, x+suffix, name)] = true
			}
		}
	}
	changed, err := m.removeLinks(name, path, want)
	if err != nil {
		return changed, err
	}
	for link := range want {
		if target, err := os.Readlink(link); err == nil && target == path {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return changed, fmt.Errorf("systemdmgr: enable %s: %w", name, err)
		}
		if err := os.Symlink(path, link); err != nil {
			return changed, fmt.Errorf("systemdmgr: enable %s: %w", name, err)
		}
		changed = true
	}
	return changed, nil
}

// removeLinks removes the [Install] links to this unit's file (path)
// except those in keep, and the .wants/.requires directories it leaves
// empty. A link it did not make (another target) is left alone.
func (m *Manager) removeLinks(name, path string, keep map[string]bool) (bool, error) {
	changed := false
	for _, suffix := range installDirs {
		// Glob the directories only: a unit name may hold \ (systemd's
		// escapes), which Glob would read as its own escape.
		dirs, _ := filepath.Glob(filepath.Join(m.cfg.UnitDir, "*"+suffix))
		for _, dir := range dirs {
			link := filepath.Join(dir, name)
			if keep[link] {
				continue
			}
			if target, err := os.Readlink(link); err != nil || target != path {
				continue
			}
			if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
				return changed, fmt.Errorf("systemdmgr: disable %s: %w", name, err)
			}
			changed = true
			os.Remove(dir) // only if empty
		}
	}
	return changed, nil
}
