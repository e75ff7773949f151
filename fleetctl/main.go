// Command fleetctl is the command line of a Flotilla cluster (fleet's fleetctl).
package main

import (
	"os"

	"github.com/flotilla-os/flotilla/internal/fleetctl"
)

func main() {
	os.Exit(fleetctl.Main(os.Args[1:], os.Stdout, os.Stderr))
}
