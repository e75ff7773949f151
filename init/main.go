// Command init is Flotilla's PID 1: /init in the initramfs (stage 1) and
// /sbin/init on the slot's root (stage 2); run as a command, "init reboot",
// "init poweroff" and "init halt" ask PID 1 to end the machine. All logic
// is in internal/initd (docs/init.md describes the boot).
package main

import (
	"os"

	"github.com/flotilla-os/flotilla/internal/initd"
	"github.com/flotilla-os/flotilla/internal/sandbox"
)

func main() {
	// Without /usr/bin/flotilla-sandbox-init beside fleetd, a container's
	// init is this binary re-executed: it never returns then.
	sandbox.InitIfRequested()
	os.Exit(initd.Main(os.Args))
}
