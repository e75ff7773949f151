// Command fleetd is the Flotilla cluster daemon: an embedded etcd member (or
// client), fleet's engine and agent, the native unit manager and the API.
package main

import (
	"os"

	"github.com/flotilla-os/flotilla/internal/fleetd"
	"github.com/flotilla-os/flotilla/internal/sandbox"
)

func main() {
	// A container's init is this binary re-executed: it never returns.
	sandbox.InitIfRequested()
	os.Exit(fleetd.Main(os.Args[1:]))
}
