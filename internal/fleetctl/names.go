package fleetctl

import (
	"path"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// unitTypes are the suffixes taken as a unit type; any other name gets ".service".
var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".timer", ".path", ".target", ".swap", ".slice", ".scope"}

// maybeAppendDefaultUnitType turns "web" (or "dir/web") into "web.service".
func maybeAppendDefaultUnitType(arg string) string {
	for _, t := range unitTypes {
		if strings.HasSuffix(arg, t) {
			return arg
		}
	}
	return arg + ".service"
}

// unitNameMangle turns a file path or name into a unit name: base name, with a type.
func unitNameMangle(arg string) string {
	return maybeAppendDefaultUnitType(path.Base(arg))
}

// templateOf returns the template of an instance name ("web@.service" for
// "web@1.service"), or "" when name is not an instance.
func templateOf(name string) string {
	at := strings.Index(name, "@")
	dot := strings.LastIndex(name, ".")
	if at <= 0 || dot <= at+1 {
		return ""
	}
	return name[:at+1] + name[dot:]
}

// isGlobal reports [X-Fleet] Global=true: the unit runs on every matching machine.
func isGlobal(opts []unit.Option) bool {
	v, ok := unit.FromOptions(opts).Value("X-Fleet", "Global")
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true
	}
	return false
}

// description returns [Unit] Description, or "".
func description(opts []unit.Option) string {
	v, _ := unit.FromOptions(opts).Value("Unit", "Description")
	return v
}

// optionsHash is the hash of a unit's options, computed as fleet did.
func optionsHash(opts []unit.Option) string {
	return unit.FromOptions(opts).Hash()
}
