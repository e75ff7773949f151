package fleetd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/flotilla-os/flotilla/internal/lifeline"
	"github.com/flotilla-os/flotilla/internal/version"
)

// Main is the fleetd command: flags, the lifeline for native units, then
// Run until SIGTERM or SIGINT (SIGHUP is logged and ignored). It returns
// the exit code.
func Main(args []string) int {
	logger := log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	cfg, err := ParseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		logger.Print(err)
		return 1
	}
	if cfg.ShowVersion {
		fmt.Println("fleetd", version.Version)
		return 0
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
	// SIGHUP asks fleet to reload its configuration; Go's default would
	// exit and take the node's units down. fleetd reads everything at
	// start, so it says so and keeps running.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			logger.Print("fleetd: SIGHUP: nothing to reload (flags are read at start; restart fleetd to change them); still running")
		}
	}()
	if err := Run(ctx, cfg, logger); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}
