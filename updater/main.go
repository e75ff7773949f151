// Command updater publishes signed OS payloads (keygen, publish, serve) and
// applies them on a node (daemon, check, status, set-max). All logic is in
// internal/updater and internal/payload; docs/updates.md describes the flow.
package main

import (
	"os"

	"github.com/flotilla-os/flotilla/internal/updater"
)

func main() {
	os.Exit(updater.Main(os.Args[1:], os.Stdout, os.Stderr))
}
