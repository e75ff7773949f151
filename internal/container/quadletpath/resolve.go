package quadletpath

import (
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// ResolveRelativeVolumes rewrites each [Container] Volume=SOURCE:TARGET[:OPTIONS]
// of f whose SOURCE starts with "." to the path it names below dir, the
// directory of the unit file, as Quadlet does (./data and ../shared both;
// a source starting with a specifier or "/" and a volume name are left as
// they are). dir is made absolute first. It reports how many it rewrote.
func ResolveRelativeVolumes(f *unit.File, dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for i, o := range f.Options {
		if o.Section != "Container" || o.Name != "Volume" || !strings.HasPrefix(o.Value, ".") {
			continue
		}
		src, rest, ok := strings.Cut(o.Value, ":")
		if !ok {
			continue // ".x" alone is a target, which the node refuses as not absolute
		}
		f.Options[i].Value = filepath.Join(abs, src) + ":" + rest
		n++
	}
	return n, nil
}
