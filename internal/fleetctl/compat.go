package fleetctl

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// noteAnnotation marks a flag accepted for fleet's sake that does nothing
// here; its value is the one-line note printed on stderr when it is given.
const noteAnnotation = "flotilla/ignored"

// Notes printed for fleet's flags that mean nothing to Flotilla (fleetctl
// v1.0 registered them in fleetctl/fleetctl.go's globalFlags and on the
// commands; CoreOS tutorials use them).
const (
	noteSSH       = "fleetctl uses no SSH: it talks to fleetd's API at --endpoint (https with --ca-file/--cert-file/--key-file)"
	noteEtcd      = "fleetctl never reads etcd: it talks to fleetd's API at --endpoint"
	noteDeprecate = "deprecated in fleet"
)

// ignoreFlag marks name on fs as accepted but meaningless here.
func ignoreFlag(fs *pflag.FlagSet, name, why string) {
	if err := fs.SetAnnotation(name, noteAnnotation, []string{why}); err != nil {
		panic(err) // a flag registered just before: a programming error
	}
}

// fleetGlobals are fleet's global flags that Flotilla accepts and ignores.
type fleetGlobals struct {
	debug        bool
	driver       string
	keyPrefix    string
	knownHosts   string
	strictHost   bool
	sshTimeout   secondsValue
	tunnel       string
	sshUsername  string
	experimental bool
	etcdKeyFile  string
	etcdCertFile string
	etcdCAFile   string
}

func (g *fleetGlobals) register(pf *pflag.FlagSet) {
	pf.BoolVar(&g.debug, "debug", false, "Print out more debug information to stderr (accepted for fleet; prints nothing more)")
	ignoreFlag(pf, "debug", "fleetctl has no debug output; fleetd logs requests")
	pf.StringVar(&g.driver, "driver", "API", `Adapter used to execute fleetctl commands: "API" (the only one here; "etcd" is accepted and means the API)`)
	pf.StringVar(&g.keyPrefix, "etcd-key-prefix", "/_coreos.com/fleet/", "Keyspace for fleet data in etcd (accepted for fleet; ignored)")
	ignoreFlag(pf, "etcd-key-prefix", noteEtcd)
	pf.StringVar(&g.knownHosts, "known-hosts-file", "~/.fleetctl/known_hosts", "File used to store remote machine fingerprints (accepted for fleet; ignored)")
	ignoreFlag(pf, "known-hosts-file", noteSSH)
	pf.BoolVar(&g.strictHost, "strict-host-key-checking", true, "Verify host keys presented by remote machines before initiating SSH connections (accepted for fleet; ignored)")
	ignoreFlag(pf, "strict-host-key-checking", noteSSH)
	g.sshTimeout = secondsValue(10 * time.Second)
	pf.Var(&g.sshTimeout, "ssh-timeout", "Amount of time in seconds to allow for SSH connection initialization before failing (accepted for fleet; ignored)")
	ignoreFlag(pf, "ssh-timeout", noteSSH)
	pf.StringVar(&g.tunnel, "tunnel", "", "Establish an SSH tunnel through the provided address (accepted for fleet; ignored)")
	ignoreFlag(pf, "tunnel", noteSSH)
	pf.StringVar(&g.sshUsername, "ssh-username", "core", "Username to use when connecting to CoreOS instance (accepted for fleet; ignored)")
	ignoreFlag(pf, "ssh-username", noteSSH)
	pf.BoolVar(&g.experimental, "experimental-api", true, "DEPRECATED (accepted for fleet; the API is always used)")
	ignoreFlag(pf, "experimental-api", noteDeprecate+"; fleetctl always uses fleetd's API")
	for _, f := range []struct {
		name string
		p    *string
		use  string
	}{
		{"etcd-keyfile", &g.etcdKeyFile, "key-file"},
		{"etcd-certfile", &g.etcdCertFile, "cert-file"},
		{"etcd-cafile", &g.etcdCAFile, "ca-file"},
	} {
		pf.StringVar(f.p, f.name, "", "DEPRECATED (accepted for fleet; ignored: use --"+f.use+")")
		ignoreFlag(pf, f.name, noteDeprecate+"; use --"+f.use)
	}
	for _, n := range []string{"etcd-keyfile", "etcd-certfile", "etcd-cafile", "experimental-api"} {
		_ = pf.MarkHidden(n)
	}
}

// check rejects what fleet rejected: an unknown --driver.
func (g *fleetGlobals) check() error {
	switch g.driver {
	case "API", "etcd":
		return nil
	}
	return fmt.Errorf("unrecognized driver %q: use API", g.driver)
}

// noteIgnored prints one line on stderr for each given flag that means
// nothing here, in name order; --driver=etcd gets its own.
func (a *app) noteIgnored(cmd *cobra.Command) {
	var notes []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		if why := f.Annotations[noteAnnotation]; len(why) > 0 {
			notes = append(notes, fmt.Sprintf("fleetctl: --%s is ignored: %s", f.Name, why[0]))
		}
	})
	if a.fleet.driver == "etcd" {
		notes = append(notes, "fleetctl: --driver=etcd is ignored: "+noteEtcd)
	}
	if u, err := url.Parse(a.endpoint); err == nil && (u.Port() == "2379" || u.Port() == "4001") {
		// fleet took such an --endpoint for etcd and switched to its etcd driver.
		notes = append(notes, fmt.Sprintf("fleetctl: --endpoint %s looks like etcd's port: fleetctl talks to fleetd's API (its --api-listen), not to etcd", a.endpoint))
	}
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintln(a.rt.Stderr, n)
	}
}

// secondsValue is a duration flag that also takes fleet's bare seconds
// ("3", "0.5") besides Go's "3s".
type secondsValue time.Duration

func (s *secondsValue) String() string { return time.Duration(*s).String() }
func (s *secondsValue) Type() string   { return "duration" }

func (s *secondsValue) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return fmt.Errorf("%q is negative", v)
		}
		*s = secondsValue(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is neither seconds (3, 0.5) nor a duration (3s, 500ms)", v)
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", v)
	}
	*s = secondsValue(d)
	return nil
}

// exitError ends fleetctl with a code other than 1 (fleet's 2 for --sign).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// addSignFlag adds fleet's deprecated --sign to submit, load and start.
func addSignFlag(cmd *cobra.Command, sign *bool) {
	cmd.Flags().BoolVar(sign, "sign", false, "DEPRECATED - this option cannot be used")
}

// checkSign refuses --sign as fleet did: a warning and exit status 2.
func checkSign(sign bool) error {
	if sign {
		return &exitError{code: 2, msg: "WARNING: The signed/verified units feature is DEPRECATED and cannot be used."}
	}
	return nil
}

// noUnitsGiven is fleet's answer to a unit command without units: a note on
// stderr and exit status 0.
func (a *app) noUnitsGiven(args []string) bool {
	if len(args) > 0 {
		return false
	}
	fmt.Fprintln(a.rt.Stderr, "No units given")
	return true
}

// addSSHPortFlag adds fleet's --ssh-port (journal and status) as a no-op.
func addSSHPortFlag(cmd *cobra.Command) {
	var port int
	cmd.Flags().IntVar(&port, "ssh-port", 22, "Connect to remote hosts over SSH using this TCP port (accepted for fleet; ignored)")
	ignoreFlag(cmd.Flags(), "ssh-port", "logs come over fleetd's API, not SSH")
}

// missingNote says on stderr which named units do not exist; fleet skipped
// them without a word, and went on with the rest.
func (a *app) missingNote(missing []string) {
	if len(missing) == 0 {
		return
	}
	s := ""
	if len(missing) > 1 {
		s = "s"
	}
	fmt.Fprintf(a.rt.Stderr, "Unit%s not found, skipped: %s\n", s, strings.Join(missing, ", "))
}

// requireUnits is the argument check of cat and status, which fleet also
// refused without a unit.
func requireUnits(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("no units given: %s needs at least one unit name", cmd.Name())
	}
	return nil
}

// unavailableCommands are fleet's commands that need what Flotilla does not
// have: each says so and what to use instead, rather than "unknown command".
func (a *app) unavailableCommands() []*cobra.Command {
	mk := func(use, short, why string, code int) *cobra.Command {
		return &cobra.Command{
			Use:                use,
			Short:              short,
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return &exitError{code: code, msg: why}
			},
		}
	}
	return []*cobra.Command{
		mk("ssh [MACHINE|UNIT] [COMMAND...]", "Not available: Flotilla has no SSH (fleet opened an SSH session)",
			"Error: fleetctl ssh is not available: Flotilla machines run no SSH server. Use fleetctl status and fleetctl journal, which read over fleetd's API, or the serial debug shell (flotilla.debug=1).", 1),
		mk("fd-forward PATH", "Not available: fleet's SSH tunnel helper",
			"Error: fleetctl fd-forward is not available: it served fleet's --tunnel over SSH, and Flotilla has no SSH. Point --endpoint at a machine's API over HTTPS.", 1),
		mk("verify UNIT", "DEPRECATED in fleet: signed units",
			"WARNING: The signed/verified units feature is DEPRECATED and cannot be used.", 2),
	}
}
