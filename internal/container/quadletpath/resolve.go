package quadletpath

import (
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// ResolveRelativePaths rewrites the paths of f's [Container] section that
// Quadlet resolves against the unit file's directory, dir (made absolute
// first), and reports how many it rewrote:
//
//   - a Volume=SOURCE:TARGET[:OPTIONS] whose SOURCE starts with "."
//     (handleStorageSource: ./data and ../shared; a volume name, an
//     absolute path and a specifier are left alone);
//   - each relative path of EnvironmentFile= that does not start with a
//     specifier (getAbsolutePath). A value with quotes or escapes is left
//     as written, and the node refuses it if it holds a relative path.
func ResolveRelativePaths(f *unit.File, dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, o := range f.Options {
		if o.Section != "Container" {
			continue
		}
		switch o.Name {
		case "Volume":
			if !strings.HasPrefix(o.Value, ".") {
				continue
			}
			src, rest, ok := strings.Cut(o.Value, ":")
			if !ok {
				continue // ".x" alone is a target, which the node refuses as not absolute
			}
			f.Options[i].Value = filepath.Join(abs, src) + ":" + rest
			n++
		case "EnvironmentFile":
			if strings.ContainsAny(o.Value, "\"'\\") {
				continue
			}
			ws := strings.Fields(o.Value)
			changed := false
			for j, w := range ws {
				if !filepath.IsAbs(w) && !strings.HasPrefix(w, "%") {
					ws[j], changed = filepath.Join(abs, w), true
					n++
				}
			}
			if changed {
				f.Options[i].Value = strings.Join(ws, " ")
			}
		}
	}
	return n, nil
}
