package fleetd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/atomicfile"
	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// submittedFile, in the data dir, holds the boot ID of the boot whose
// --submit-units submission succeeded: a fleetd restarted in that boot does
// not submit again (a unit destroyed since stays destroyed until the next
// boot), as when init submitted them once per boot.
const submittedFile = "units-submitted"

// bootIDPath is the kernel's ID of this boot; tests point it elsewhere.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

// submitRetry is the pause between tries at submitting the units.
var submitRetry = 5 * time.Second

// submitBootUnits is --submit-units: once fleetd serves, it submits the
// boot config's units that the cluster does not have yet, through its own
// API on the unix socket sock (so the API's rules apply), retrying every
// submitRetry until that succeeds or ctx ends, once per boot.
func submitBootUnits(ctx context.Context, path, sock, dataDir string, logf func(string, ...any)) {
	data, err := os.ReadFile(path)
	if err != nil {
		logf("fleetd: --submit-units: %v", err)
		return
	}
	cfg, err := bootconfig.Parse(data, path)
	if err != nil {
		logf("fleetd: --submit-units: %v", err)
		return
	}
	if len(cfg.Units) == 0 {
		return
	}
	marker := filepath.Join(dataDir, submittedFile)
	boot := bootID()
	if boot != "" {
		if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == boot {
			logf("fleetd: the units of %s were submitted earlier in this boot", path)
			return
		}
	}
	c, err := client.New("unix://"+sock, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		logf("fleetd: --submit-units: %v", err)
		return
	}
	for {
		done, err := submitUnits(ctx, c, cfg.Units)
		if len(done) > 0 {
			logf("fleetd: submitted units %s", strings.Join(done, " "))
		}
		if err == nil {
			if boot != "" {
				if err := atomicfile.WriteFile(marker, []byte(boot+"\n"), 0o600); err != nil {
					logf("fleetd: --submit-units: %v", err)
				}
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		logf("fleetd: %v (retrying in %s)", err, submitRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(submitRetry):
		}
	}
}

func bootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// submitUnits submits the config's units that the cluster does not have
// yet, launched unless the unit says start: false (then only submitted).
// Units that exist are left alone, whatever their state: the config is a
// first-boot seed, not a desired state. It returns the names submitted.
func submitUnits(ctx context.Context, c *client.Client, units []bootconfig.Unit) ([]string, error) {
	var done []string
	for i, u := range units {
		f, err := unit.Parse(u.Name, []byte(u.Contents))
		if err != nil {
			return done, fmt.Errorf("config units[%d] (%s): %w", i, u.Name, err)
		}
		have, err := c.Unit(ctx, u.Name)
		if err != nil {
			return done, fmt.Errorf("look up unit %s: %w", u.Name, err)
		}
		if have != nil {
			continue
		}
		state := "launched"
		if !u.ShouldStart() {
			state = "inactive"
		}
		if err := c.CreateUnit(ctx, &schema.Unit{Name: u.Name, Options: f.Options, DesiredState: state}, false); err != nil {
			return done, fmt.Errorf("submit unit %s: %w", u.Name, err)
		}
		done = append(done, u.Name)
	}
	return done, nil
}

// unixSocket is the path of the first unix listener, "" when none.
func unixSocket(ls []net.Listener) string {
	for _, l := range ls {
		if l.Addr().Network() == "unix" {
			return l.Addr().String()
		}
	}
	return ""
}
