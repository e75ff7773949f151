// Command host is the remote package's test helper, a tiny stand-in for
// init and fleetd:
//
//	host serve -socket S -dir D [-fence-after 3s] [-log-forward URL]
//	                                                serve unitmgr/machine on S until SIGTERM,
//	                                                forwarding its units' output as init does
//	host hold -socket S                             dial, print "held", stay connected
//	host probe -socket S                            dial, list units, exit 0 (or 1 with the error)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/logforward"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

func main() {
	sandbox.InitIfRequested()
	if len(os.Args) < 2 {
		log.Fatal("usage: host serve|hold|probe -socket PATH ...")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	socket := fs.String("socket", "", "unit manager socket")
	dir := fs.String("dir", "", "serve: data directory")
	fenceAfter := fs.Duration("fence-after", remote.DefaultFenceAfter, "serve: fence after this long without a client")
	bridgeSubnet := fs.String("bridge-subnet", "", "serve: run containers, on a bridge on this subnet (as init does); '' for no containers")
	logForward := fs.String("log-forward", "", "serve: forward the units' output there and serve the counters, as init does")
	_ = fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch os.Args[1] {
	case "serve":
		serve(ctx, *socket, *dir, *fenceAfter, *bridgeSubnet, *logForward)
	case "hold":
		c, err := remote.Dial(ctx, *socket)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("held")
		<-ctx.Done()
		c.Close()
	case "probe":
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := remote.Dial(dctx, *socket)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(c.Units())
		c.Close()
	default:
		log.Fatalf("host: unknown command %q", os.Args[1])
	}
}

func serve(ctx context.Context, socket, dir string, fenceAfter time.Duration, bridgeSubnet, logForward string) {
	logf := log.New(os.Stderr, "host: ", log.Lmicroseconds).Printf
	cfg := machine.Config{Dir: dir, MachineID: "0123456789abcdef0123456789abcdef", NoContainers: bridgeSubnet == "",
		BridgeSubnet: bridgeSubnet, Logf: logf}
	var also http.Handler
	if logForward != "" {
		d, err := logforward.Parse(logForward)
		if err != nil {
			log.Fatal(err)
		}
		fwd, err := logforward.New([]logforward.Destination{d}, logforward.Options{Machine: "host", Logf: logf})
		if err != nil {
			log.Fatal(err)
		}
		defer fwd.Close()
		cfg.Forward = func(unit string, stderr bool, p []byte) {
			s := logforward.Stdout
			if stderr {
				s = logforward.Stderr
			}
			fwd.Lines(unit, s, p)
		}
		mux := http.NewServeMux()
		mux.Handle("GET "+logforward.StatsPath, logforward.StatsHandler(fwd))
		also = mux
	}
	m, err := machine.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	l, err := remote.Listen(socket)
	if err != nil {
		log.Fatal(err)
	}
	logf("serving on %s", socket)
	if err := remote.Serve(ctx, l, m, remote.ServerOptions{FenceAfter: fenceAfter, Logf: logf, Also: also}); err != nil {
		log.Fatal(err)
	}
}
