package initd

import (
	"os"

	"github.com/u-root/u-root/pkg/libinit"
)

// Step is one boot step: libinit's Creator (Create, String).
type Step = libinit.Creator

func dirStep(name string, mode os.FileMode) Step { return libinit.Dir{Name: name, Mode: mode} }

func mountStep(src, target, fstype string, flags uintptr, opts string) Step {
	return libinit.Mount{Source: src, Target: target, FSType: fstype, Flags: flags, Opts: opts}
}
