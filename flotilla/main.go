// Command flotilla is every Flotilla program in one binary, chosen by the
// name it runs under, as busybox and gokrazy do. The OS image installs it
// once and links /sbin/init, /usr/bin/fleetd, /usr/bin/fleetctl and
// /usr/bin/updater to it: one Go runtime and one copy of the shared packages
// instead of four keeps a slot's payload small. `flotilla NAME args...`
// runs NAME too.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flotilla-os/flotilla/internal/fleetctl"
	"github.com/flotilla-os/flotilla/internal/fleetd"
	"github.com/flotilla-os/flotilla/internal/initd"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/updater"
)

func main() {
	// A container's init is this binary re-executed: it never returns.
	sandbox.InitIfRequested()
	args := os.Args
	if filepath.Base(args[0]) == "flotilla" && len(args) > 1 {
		args = args[1:]
	}
	switch filepath.Base(args[0]) {
	case "init":
		os.Exit(initd.Main(args))
	case "fleetd":
		os.Exit(fleetd.Main(args[1:]))
	case "fleetctl":
		os.Exit(fleetctl.Main(args[1:], os.Stdout, os.Stderr))
	case "updater":
		os.Exit(updater.Main(args[1:], os.Stdout, os.Stderr))
	}
	fmt.Fprintln(os.Stderr, "usage: flotilla init|fleetd|fleetctl|updater [args...] (or run it through a link of that name)")
	os.Exit(2)
}
