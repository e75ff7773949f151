// Command fleetd is the Flotilla cluster daemon: an embedded etcd member (or
// client), fleet's engine and agent, the native unit manager and the API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/flotilla-os/flotilla/internal/fleetd"
	"github.com/flotilla-os/flotilla/internal/lifeline"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/version"
)

func main() {
	// A container's init is this binary re-executed: it never returns.
	sandbox.InitIfRequested()
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	cfg, err := fleetd.ParseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		logger.Fatal(err)
	}
	if cfg.ShowVersion {
		fmt.Println("fleetd", version.Version)
		return
	}
	// Native units live in fleetd's own PID namespace: if fleetd is killed,
	// they die too. systemd's units are systemd's, and systemd must see the
	// container roots fleetd mounts: no namespace then. Units of a hosted
	// manager (unix:PATH) live in init and must outlive fleetd: no
	// namespace either.
	if cfg.UnitManager == "native" {
		if err := lifeline.Enter(); err != nil {
			logger.Printf("fleetd: %v: units will not die with fleetd if it is killed", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := fleetd.Run(ctx, cfg, logger); err != nil {
		logger.Fatal(err)
	}
}
