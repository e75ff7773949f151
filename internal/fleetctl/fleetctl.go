package fleetctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	flversion "github.com/flotilla-os/flotilla/internal/version"
)

// DefaultPollInterval is how often blocking commands poll unit states.
const DefaultPollInterval = 250 * time.Millisecond

// Runtime is what Run takes from its process. Zero fields get defaults.
type Runtime struct {
	Stdout io.Writer // nil: io.Discard
	Stderr io.Writer // nil: io.Discard
	// LookupEnv reads FLEETCTL_* variables; nil: no environment at all.
	LookupEnv func(string) (string, bool)
	// Now is the clock used for "5min ago" in status; nil: time.Now.
	Now func() time.Time
	// PollInterval between state polls of blocking commands; zero: DefaultPollInterval.
	PollInterval time.Duration
}

// Main runs fleetctl as a process: environment from os, interrupted by SIGINT
// or SIGTERM. It returns the exit code: 0 on success, 1 on any error.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, Runtime{Stdout: stdout, Stderr: stderr, LookupEnv: os.LookupEnv})
}

// Run runs fleetctl with args (without the program name). Errors are printed
// to Stderr as "Error: <message>" and give exit code 1.
func Run(ctx context.Context, args []string, rt Runtime) int {
	if rt.Stdout == nil {
		rt.Stdout = io.Discard
	}
	if rt.Stderr == nil {
		rt.Stderr = io.Discard
	}
	if rt.LookupEnv == nil {
		rt.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if rt.Now == nil {
		rt.Now = time.Now
	}
	if rt.PollInterval <= 0 {
		rt.PollInterval = DefaultPollInterval
	}
	a := &app{rt: rt, ctx: ctx}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(rt.Stdout)
	root.SetErr(rt.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		var ee *exitError
		if errors.As(err, &ee) {
			fmt.Fprintln(rt.Stderr, ee.msg)
			return ee.code
		}
		// errors.Join gives one line per error: one "Error:" line each.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(rt.Stderr, "Error: %s\n", line)
		}
		return 1
	}
	return 0
}

// app is one invocation: its flags, its client and its caches.
type app struct {
	rt  Runtime
	ctx context.Context

	endpoint       string
	caFile         string
	certFile       string
	keyFile        string
	requestTimeout secondsValue
	version        bool
	fleet          fleetGlobals // fleet's flags that mean nothing here

	api      *client.Client
	machines map[string]*schema.Machine // by ID, filled on first use
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleetctl",
		Short:         "fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system.",
		Long:          "fleetctl is a command-line interface to fleetd, Flotilla's cluster-wide init system (fleet's API).",
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.version {
				return a.runVersion()
			}
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := a.flagsFromEnv(cmd.Root().PersistentFlags()); err != nil {
				return err
			}
			if err := a.fleet.check(); err != nil {
				return err
			}
			a.noteIgnored(cmd)
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoint, "endpoint", client.DefaultEndpoint, "fleetd API endpoint: unix:///path.sock, http://host:port or https://host:port (env FLEETCTL_ENDPOINT)")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM CA certificate verifying an https endpoint (env FLEETCTL_CA_FILE)")
	pf.StringVar(&a.certFile, "cert-file", "", "PEM client certificate for an https endpoint (env FLEETCTL_CERT_FILE)")
	pf.StringVar(&a.keyFile, "key-file", "", "PEM client key for an https endpoint (env FLEETCTL_KEY_FILE)")
	a.requestTimeout = secondsValue(3 * time.Second)
	pf.Var(&a.requestTimeout, "request-timeout", "Amount of time in seconds (3, 0.5 or 3s) to allow a single request before considering it failed. (env FLEETCTL_REQUEST_TIMEOUT)")
	a.fleet.register(pf)
	root.Flags().BoolVar(&a.version, "version", false, "Print the version and exit")

	root.AddCommand(
		a.catCommand(),
		a.cordonCommand(),
		a.drainCommand(),
		a.uncordonCommand(),
		a.destroyCommand(),
		a.imagesCommand(),
		a.pullCommand(),
		a.rebalanceCommand(),
		a.journalCommand(),
		a.listMachinesCommand(),
		a.listServicesCommand(),
		a.listUnitFilesCommand(),
		a.listUnitsCommand(),
		a.loadCommand(),
		a.restartCommand(),
		a.rolloutCommand(),
		a.rollbackCommand(),
		a.historyCommand(),
		a.startCommand(),
		a.statusCommand(),
		a.stopCommand(),
		a.submitCommand(),
		a.unloadCommand(),
		a.versionCommand(),
	)
	root.AddCommand(a.unavailableCommands()...)
	return root
}

// flagsFromEnv sets each global flag not given on the command line from
// FLEETCTL_<FLAG_NAME>, as fleet's getFlagsFromEnv did.
func (a *app) flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		key := "FLEETCTL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := a.rt.LookupEnv(key); ok && v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", key, v, e)
			}
		}
	})
	return err
}

// client returns the API client, made on first use from the global flags.
func (a *app) client() (*client.Client, error) {
	if a.api != nil {
		return a.api, nil
	}
	c, err := client.New(a.endpoint, client.Options{
		CAFile:   a.caFile,
		CertFile: a.certFile,
		KeyFile:  a.keyFile,
		Timeout:  time.Duration(a.requestTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("unable to initialize client: %w", err)
	}
	a.api = c
	return c, nil
}

func (a *app) stdout(format string, args ...any) {
	fmt.Fprintf(a.rt.Stdout, format+"\n", args...)
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and exit",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.runVersion() },
	}
}

func (a *app) runVersion() error {
	a.stdout("fleetctl version %s", version())
	return nil
}

func version() string {
	return flversion.Version
}
