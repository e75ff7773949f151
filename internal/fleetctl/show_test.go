package fleetctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
)

func TestStatus(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() {
		f.states[0].Since = testNow.Add(-5*time.Minute - 3*time.Second).Format(time.RFC3339)
		var lines []string
		for i := 1; i <= 12; i++ {
			lines = append(lines, "web line "+string(rune('a'-1+i)))
		}
		f.journals["web.service"] = lines
		f.journals["mon.service"] = []string{"mon says hi"}
	})
	out, errOut, code := runCtl(t, f.srv.URL, "status", "web", "db.service")
	want := `● web.service - Web server
   Loaded: loaded (desired launched, hash ` + f.units["web.service"].Hash[:7] + `)
   Active: active (running) since Sun 2026-03-01 11:54:57 UTC; 5min 3s ago
   Health: healthy
  Machine: ` + m1 + `/10.0.0.1
 Main PID: 4242

web line c
web line d
web line e
web line f
web line g
web line h
web line i
web line j
web line k
web line l

● db.service
   Loaded: - (desired launched, hash ` + f.units["db.service"].Hash[:7] + `)
   Active: inactive (dead)
  Machine: - (not placed: no machine matches MachineMetadata=disk=nvme)
`
	if code != 0 || out != want || errOut != "" {
		t.Errorf("status = %d %q\n%s\nwant\n%s", code, errOut, out, want)
	}

	// A global unit: one block per machine, the failed one with its reason.
	out, _, code = runCtl(t, f.srv.URL, "status", "--lines", "1", "mon.service")
	if code != 0 || strings.Count(out, "● mon.service") != 2 || !strings.Contains(out, "   Active: failed (failed)\n") ||
		!strings.Contains(out, "   Reason: exit code 3\n") || strings.Count(out, "mon says hi") != 2 {
		t.Errorf("status global = %d\n%s", code, out)
	}
	if countRequests(f, "GET /fleet/v1/units/mon.service/journal?lines=1&machineID="+m1) != 1 {
		t.Errorf("journal not asked per machine: %q", f.requestLog())
	}

	out, _, code = runCtl(t, f.srv.URL, "status", "-o", "json", "web.service")
	var st []unitStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st) != 1 || len(st[0].States) != 1 || st[0].States[0].PID != 4242 {
		t.Errorf("status -o json = %d %v %q", code, err, out)
	}
	_, errOut, code = runCtl(t, f.srv.URL, "status", "ghost")
	if code != 1 || errOut != "Error: unit ghost.service does not exist\n" {
		t.Errorf("status missing = %d %q", code, errOut)
	}
}

func TestJournal(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() { f.journals["web.service"] = []string{"one", "two", "three"} })
	out, _, code := runCtl(t, f.srv.URL, "journal", "--lines", "2", "web.service")
	if code != 0 || out != "two\nthree\n" {
		t.Errorf("journal = %d %q", code, out)
	}
	out, _, code = runCtl(t, f.srv.URL, "journal", "--machine", m2, "mon")
	if code != 0 || out != "" || countRequests(f, "GET /fleet/v1/units/mon.service/journal?lines=10&machineID="+m2) != 1 {
		t.Errorf("journal --machine = %d %q %q", code, out, f.requestLog())
	}
	_, errOut, code := runCtl(t, f.srv.URL, "journal", "ghost.service")
	if code != 1 || errOut != "Error: unit ghost.service not found\n" {
		t.Errorf("journal missing = %d %q", code, errOut)
	}
	_, _, code = runCtl(t, f.srv.URL, "journal", "a.service", "b.service")
	if code != 1 {
		t.Errorf("journal with two units = %d", code)
	}
}

func TestJournalFollowStopsOnCancel(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() { f.journals["web.service"] = []string{"backlog"} })
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testutil.Buffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"--endpoint", f.srv.URL, "journal", "-f", "web.service"}, Runtime{Stdout: &out, Stderr: &errOut})
	}()
	f.follow <- "live 1"
	f.follow <- "live 2"
	if err := testutil.EventuallyEvery(5*time.Millisecond, 10*time.Second, func() error {
		if got := out.String(); got != "backlog\nlive 1\nlive 2\n" {
			return fmt.Errorf("streamed %q so far", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel() // what SIGINT does through Main's signal context
	select {
	case code := <-done:
		if code != 0 || errOut.String() != "" {
			t.Errorf("journal -f ended with %d %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("journal -f did not stop when its context was cancelled")
	}
}

func TestUnixSocketEndpointFromEnv(t *testing.T) {
	f := clusterFixture(t)
	dir, err := os.MkdirTemp("", "fc") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "fleetd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f.handler())
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	out, _, code := runCtlEnv(t, context.Background(), map[string]string{"FLEETCTL_ENDPOINT": "unix://" + sock}, "list-machines", "--no-legend", "--fields", "ip")
	if code != 0 || out != "10.0.0.1\n10.0.0.3\n10.0.0.2\n" {
		t.Errorf("over unix socket = %d %q", code, out)
	}
	// The flag beats the environment.
	_, errOut, code := runCtlEnv(t, context.Background(), map[string]string{"FLEETCTL_ENDPOINT": "unix://" + sock}, "--endpoint", "http://127.0.0.1:1", "list-machines")
	if code != 1 || !strings.Contains(errOut, "http://127.0.0.1:1") {
		t.Errorf("--endpoint over env = %d %q", code, errOut)
	}
}

func TestMutualTLS(t *testing.T) {
	f := clusterFixture(t)
	pki := newTestPKI(t)
	srv := pki.server(t, f.handler())
	env := map[string]string{
		"FLEETCTL_ENDPOINT":  srv.URL,
		"FLEETCTL_CA_FILE":   pki.caFile,
		"FLEETCTL_CERT_FILE": pki.certFile,
		"FLEETCTL_KEY_FILE":  pki.keyFile,
	}
	out, _, code := runCtlEnv(t, context.Background(), env, "list-unit-files", "--no-legend", "--fields", "unit")
	if code != 0 || out != "db.service\nmon.service\nweb.service\n" {
		t.Errorf("mutual TLS = %d %q", code, out)
	}
	// No client certificate: the server refuses the handshake.
	_, errOut, code := runCtlEnv(t, context.Background(), nil, "--endpoint", srv.URL, "--ca-file", pki.caFile, "list-units")
	if code != 1 || !strings.Contains(errOut, "cannot reach fleetd at "+srv.URL) || !strings.Contains(errOut, "--cert-file") {
		t.Errorf("without client cert = %d %q", code, errOut)
	}
	// Cert without key is a usage error.
	_, errOut, code = runCtlEnv(t, context.Background(), nil, "--endpoint", srv.URL, "--cert-file", pki.certFile, "list-units")
	if code != 1 || !strings.Contains(errOut, "--key-file") {
		t.Errorf("cert without key = %d %q", code, errOut)
	}
}

func TestVersionAndRequestTimeoutEnv(t *testing.T) {
	out, _, code := runCtlEnv(t, context.Background(), nil, "version")
	if code != 0 || !strings.HasPrefix(out, "fleetctl version ") {
		t.Errorf("version = %d %q", code, out)
	}
	out2, _, _ := runCtlEnv(t, context.Background(), nil, "--version")
	if out2 != out {
		t.Errorf("--version = %q, version = %q", out2, out)
	}
	_, errOut, code := runCtlEnv(t, context.Background(), map[string]string{"FLEETCTL_REQUEST_TIMEOUT": "soon"}, "list-units")
	if code != 1 || !strings.Contains(errOut, "FLEETCTL_REQUEST_TIMEOUT") {
		t.Errorf("bad env = %d %q", code, errOut)
	}
	_, errOut, code = runCtlEnv(t, context.Background(), nil, "frobnicate")
	if code != 1 || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("unknown command = %d %q", code, errOut)
	}
}
