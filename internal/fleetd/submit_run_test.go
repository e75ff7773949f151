package fleetd

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// runFleetd runs one real fleetd (embedded etcd, native unit manager, the
// API on a unix socket) over dir with --submit-units config, until stop is
// called.
func runFleetd(t *testing.T, dir, config string, ports []int) (c *client.Client, logs *testutil.Buffer, stop func()) {
	t.Helper()
	sock := filepath.Join(dir, "api.sock")
	cfg, err := ParseFlags([]string{"--name", "sub", "--data-dir", filepath.Join(dir, "data"), "--api-socket", sock,
		"--etcd-peer-url", fmt.Sprintf("https://127.0.0.1:%d", ports[0]), "--etcd-client-url", fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		"--no-containers", "--submit-units", config}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	logs = &testutil.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, log.New(logs, "", 0)) }()
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fleetd: %v\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("fleetd did not stop\n%s", logs)
		}
	}
	c, err = client.New("unix://"+sock, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return c, logs, stop
}

// waitLog waits for fleetd to log line.
func waitLog(t *testing.T, logs *testutil.Buffer, line string) {
	t.Helper()
	if err := testutil.Eventually(60*time.Second, func() error {
		if !strings.Contains(logs.String(), line+"\n") {
			return fmt.Errorf("fleetd never logged %q:\n%s", line, logs)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func desired(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	u, err := c.Unit(context.Background(), name)
	if err != nil {
		t.Fatalf("unit %s: %v", name, err)
	}
	if u == nil {
		return "absent"
	}
	return u.DesiredState
}

// TestSubmitUnitsRealFleetd: a real fleetd given --submit-units submits
// the config's units once it serves (launched, or inactive with start:
// false), leaves alone those the cluster has, does not submit again when
// restarted in the same boot, and submits what is missing in the next.
func TestSubmitUnitsRealFleetd(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	dir := t.TempDir()
	bootIDPath = filepath.Join(dir, "boot_id")
	defer func() { bootIDPath = "/proc/sys/kernel/random/boot_id" }()
	setBoot := func(id string) {
		if err := os.WriteFile(bootIDPath, []byte(id+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	config := filepath.Join(dir, "config.json")
	writeConfig := func(units ...bootconfig.Unit) {
		data, err := bootconfig.Marshal(&bootconfig.Config{Units: units})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(config, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	web := bootconfig.Unit{Name: "web.service", Contents: "[Service]\nExecStart=/bin/sleep 1000\n"}
	later := bootconfig.Unit{Name: "later.service", Contents: "[Service]\nExecStart=/bin/true\n", Start: &no}
	tmpl := bootconfig.Unit{Name: "tmpl@.service", Contents: "[Service]\nExecStart=/bin/sleep %i\n", Start: &no}
	extra := bootconfig.Unit{Name: "extra.service", Contents: "[Service]\nExecStart=/bin/true\n", Start: &no}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Boot 1: everything is submitted.
	setBoot("boot-1")
	writeConfig(web, later, tmpl)
	c, logs, stop := runFleetd(t, dir, config, ports)
	waitLog(t, logs, "fleetd: submitted units web.service later.service tmpl@.service")
	for name, want := range map[string]string{"web.service": "launched", "later.service": "inactive", "tmpl@.service": "inactive"} {
		if got := desired(t, c, name); got != want {
			t.Errorf("boot 1: %s desired %s, want %s", name, got, want)
		}
	}
	// The user changes their mind.
	if err := c.SetUnitTargetState(ctx, "web.service", "inactive"); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyUnit(ctx, "later.service"); err != nil {
		t.Fatal(err)
	}
	stop()

	// fleetd restarted in the same boot: nothing again.
	writeConfig(web, later, tmpl, extra)
	c, logs, stop = runFleetd(t, dir, config, ports)
	waitLog(t, logs, "fleetd: the units of "+config+" were submitted earlier in this boot")
	if got := desired(t, c, "later.service"); got != "absent" {
		t.Errorf("restart in boot 1: destroyed later.service is %s, want absent", got)
	}
	stop()

	// Boot 2: what the cluster lacks is submitted; web keeps the user's state.
	setBoot("boot-2")
	c, logs, stop = runFleetd(t, dir, config, ports)
	defer stop()
	waitLog(t, logs, "fleetd: submitted units later.service extra.service")
	for name, want := range map[string]string{"web.service": "inactive", "later.service": "inactive", "extra.service": "inactive"} {
		if got := desired(t, c, name); got != want {
			t.Errorf("boot 2: %s desired %s, want %s", name, got, want)
		}
	}
}

// TestSubmitUnitsRetries: a unit the API refuses is logged and retried
// (init's rule: every 5 s, here shortened), and the units before it stay
// submitted.
func TestSubmitUnitsRetries(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	dir := t.TempDir()
	bootIDPath = filepath.Join(dir, "no-boot-id")
	submitRetry = 200 * time.Millisecond
	defer func() { bootIDPath, submitRetry = "/proc/sys/kernel/random/boot_id", 5*time.Second }()
	config := filepath.Join(dir, "config.json")
	data, err := bootconfig.Marshal(&bootconfig.Config{Units: []bootconfig.Unit{
		{Name: "ok.service", Contents: "[Service]\nExecStart=/bin/true\n", Start: new(bool)},
		// The unit manager refuses Type=bogus, so the API does, every time.
		{Name: "bad.service", Contents: "[Service]\nType=bogus\nExecStart=/bin/true\n"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	c, logs, stop := runFleetd(t, dir, config, ports)
	defer stop()
	waitLog(t, logs, "fleetd: submitted units ok.service")
	if err := testutil.Eventually(30*time.Second, func() error {
		if strings.Count(logs.String(), "submit unit bad.service") < 2 {
			return fmt.Errorf("no retry of bad.service:\n%s", logs)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "(retrying in 200ms)") {
		t.Errorf("no retry line:\n%s", logs)
	}
	if got := desired(t, c, "ok.service"); got != "inactive" {
		t.Errorf("ok.service desired %s, want inactive", got)
	}
}
