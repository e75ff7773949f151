// Command flotilla-sandbox-init is a container's init, kept apart from
// fleetd so that starting a container pays for none of fleetd's package
// initialisation (etcd, gRPC): fleetd's container runtime forks it, it sets
// up the namespaces (internal/sandbox) and execs the entrypoint. fleetd falls
// back to re-executing itself when this binary is not installed beside it.
package main

import (
	"fmt"
	"os"

	"github.com/flotilla-os/flotilla/internal/sandbox"
)

func main() {
	sandbox.InitIfRequested()
	fmt.Fprintln(os.Stderr, "flotilla-sandbox-init: this is a container's init, started by fleetd; it is not run by hand")
	os.Exit(2)
}
