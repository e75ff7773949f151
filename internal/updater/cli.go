package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/bootslot"
	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/rebootlock"
	"github.com/flotilla-os/flotilla/internal/version"
)

// RebootSignal is what PID 1 takes as "reboot" (initd's contract, which
// `/sbin/init reboot` uses too). The updater signals it directly rather
// than running a program to do it.
const RebootSignal = syscall.SIGTERM

// Main runs the updater command line; it returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := Command(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// Command is the cobra tree of `updater`.
func Command(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "updater", Short: "Flotilla A/B updates: publish signed payloads, apply them on a node",
		SilenceUsage: true, SilenceErrors: true, Version: version.Version}
	root.SetOut(stdout)
	root.SetErr(stderr)
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	socket := DefaultSocket

	var key string
	keygen := &cobra.Command{Use: "keygen --key KEY", Short: "Create the signing key (if absent) and print its public half for update.public_key",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := payload.LoadOrCreateKey(key)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, payload.PublicKeyString(k))
			return nil
		}}
	keygen.Flags().StringVar(&key, "key", "", "private key file (PEM, mode 0600)")
	keygen.MarkFlagRequired("key")

	var out string
	var force bool
	var expires time.Duration
	publish := &cobra.Command{Use: "publish --key KEY --out SERVEDIR DIR/payload", Short: "Sign a payload and add it to a static server directory",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			if expires <= 0 {
				return fmt.Errorf("publish: --expires %v: want a positive duration such as 168h", expires)
			}
			res, err := payload.Publish(key, args[0], out, payload.PublishOptions{Force: force, Validity: expires})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "published %s (%s) in %s\n", res.Manifest.Version, res.Manifest.Channel, res.Dir)
			if res.Moved {
				fmt.Fprintf(stdout, "%s.json now names %s\n", res.Manifest.Channel, res.Pointer)
			} else {
				fmt.Fprintf(stdout, "%s.json stays at %s, which is newer (--force moves it back)\n", res.Manifest.Channel, res.Pointer)
			}
			fmt.Fprintf(stdout, "%s.json signed as serial %d, valid until %s: publish again before then\n",
				res.Manifest.Channel, res.Serial, res.Expires.Format(time.RFC3339))
			return nil
		}}
	publish.Flags().StringVar(&key, "key", "", "signing key (created if absent)")
	publish.Flags().StringVar(&out, "out", "", "server directory")
	publish.Flags().BoolVar(&force, "force", false, "republish a version with other bytes, move the channel back")
	publish.Flags().DurationVar(&expires, "expires", payload.DefaultPointerValidity, "how long the signed channel pointer is valid; nodes refuse it after that, so publish again within it")
	publish.MarkFlagRequired("key")
	publish.MarkFlagRequired("out")

	var dir, listen string
	serve := &cobra.Command{Use: "serve --dir SERVEDIR --listen HOST:PORT", Short: "Serve a server directory over HTTP (Range supported)",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			return payload.Serve(cmd.Context(), dir, listen, logf, func(addr string) {
				logf("serving %s on http://%s/", dir, addr)
			})
		}}
	serve.Flags().StringVar(&dir, "dir", "", "server directory")
	serve.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	serve.MarkFlagRequired("dir")

	daemon := &cobra.Command{Use: "daemon", Short: "Apply updates on this node (init runs it)",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), socket, logf)
		}}

	check := &cobra.Command{Use: "check", Short: "Ask the running daemon to check for an update now",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			return RequestCheck(cmd.Context(), socket)
		}}

	var asJSON bool
	status := &cobra.Command{Use: "status", Short: "Show the running version, booted slot and update state",
		Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := FetchStatus(cmd.Context(), socket)
			if err != nil {
				// No daemon: what state.json says.
				s, lerr := LoadState(filepath.Join(DownloadDir, StateFile))
				if lerr != nil {
					return errors.Join(err, lerr)
				}
				st = &Status{State: *s, Running: version.Version, Summary: s.Label()}
				st.Booted, _ = (&NodeBoot{Cmdline: "/proc/cmdline"}).Booted()
				st.Root = nodeRootState()
			}
			if asJSON {
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintln(stdout, string(b))
				return nil
			}
			fmt.Fprint(stdout, st.Table())
			return nil
		}}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	setMax := &cobra.Command{Use: "set-max N", Short: "Set how many machines may reboot for updates at once (default 1)",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("set-max %q: want a number of machines, e.g. 1", args[0])
			}
			node, err := LoadNode(ConfigPath, MachineIDFile)
			if err != nil {
				return err
			}
			cli, err := node.Etcd()
			if err != nil {
				return err
			}
			defer cli.Close()
			return rebootlock.SetMax(cmd.Context(), cli, n)
		}}

	root.PersistentFlags().StringVar(&socket, "socket", DefaultSocket, "the daemon's control socket")
	root.AddCommand(keygen, publish, serve, daemon, check, status, setMax)
	return root
}

// runDaemon wires Daemon to this node and runs it with its control socket.
func runDaemon(ctx context.Context, socket string, logf func(string, ...any)) error {
	if err := LowerPriority(Background); err != nil {
		logf("updater: %v; running at normal priority", err)
	}
	node, err := LoadNode(ConfigPath, MachineIDFile)
	if err != nil {
		return err
	}
	f, err := node.Fetcher(DownloadDir)
	if err != nil {
		logf("updater: %v; idle", err)
		<-ctx.Done()
		return nil
	}
	cli, err := node.Etcd()
	if err != nil {
		return err
	}
	defer cli.Close()
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	d := &Daemon{
		StatePath: filepath.Join(DownloadDir, StateFile),
		Fetcher:   f,
		Boot: &NodeBoot{ESP: ESPDir, SysBlock: bootslot.SysBlock, Cmdline: "/proc/cmdline",
			FailedPath: filepath.Join(DownloadDir, FailedFile), Probe: bootslot.DefaultProbe},
		Cluster:  &NodeCluster{Cli: cli, Machine: node.Machine, Member: node.Member},
		Running:  version.Version,
		BootID:   strings.TrimSpace(string(bootID)),
		Interval: node.Config.UpdateInterval(),
		Window:   node.Config.RebootWindow(),
		Reboot:   func() error { return syscall.Kill(1, RebootSignal) },
		// The root's state is read on each publish and status: dm-verity
		// may find a bad block at any time.
		RootState: nodeRootState,
		Logf:      logf,
	}
	if err := d.Load(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ServeControl(ctx, d, socket) }()
	logf("updater: %s on slot %s, following %s channel %s every %s", d.Running, d.Status().Booted, f.URL, f.Channel, d.Interval)
	if d.Window != nil {
		logf("updater: reboots for updates only in the window %s (UTC)", d.Window)
	}
	err = d.Run(ctx)
	cancel()
	if serr := <-errc; serr != nil {
		return serr
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
