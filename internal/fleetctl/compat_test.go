package fleetctl

import (
	"context"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// TestFleetGlobalFlagsAccepted runs fleet's global flags as CoreOS tutorials
// wrote them: each is accepted, the command runs, and each flag that means
// nothing here gets one note on stderr.
func TestFleetGlobalFlagsAccepted(t *testing.T) {
	f := clusterFixture(t)
	cases := []struct {
		args  []string
		notes []string // substrings, one stderr line each
	}{
		{[]string{"--strict-host-key-checking=false", "list-machines", "--no-legend"}, []string{"--strict-host-key-checking is ignored: fleetctl uses no SSH"}},
		{[]string{"--tunnel", "10.10.10.10", "--ssh-username=elroy", "--ssh-timeout=20", "list-machines"}, []string{"--ssh-timeout is ignored", "--ssh-username is ignored", "--tunnel is ignored"}},
		{[]string{"--known-hosts-file=/dev/null", "--debug", "list-machines"}, []string{"--debug is ignored", "--known-hosts-file is ignored"}},
		{[]string{"--driver=etcd", "--etcd-key-prefix=/x/", "list-machines"}, []string{"--driver=etcd is ignored", "--etcd-key-prefix is ignored"}},
		{[]string{"--driver=API", "--request-timeout=5s", "list-machines"}, nil},
		{[]string{"--request-timeout", "2.5", "list-machines"}, nil},
		{[]string{"--experimental-api=false", "--etcd-cafile=/ca.pem", "list-machines"}, []string{"--etcd-cafile is ignored: deprecated in fleet; use --ca-file", "--experimental-api is ignored"}},
		{[]string{"list-machines"}, nil},
	}
	for _, c := range cases {
		out, errOut, code := runCtl(t, f.srv.URL, c.args...)
		if code != 0 || !strings.Contains(out, "10.0.0.1") {
			t.Errorf("%v = %d %q %q", c.args, code, out, errOut)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if errOut == "" {
			lines = nil
		}
		if len(lines) != len(c.notes) {
			t.Errorf("%v: stderr %q, want %d notes", c.args, errOut, len(c.notes))
			continue
		}
		for i, n := range c.notes {
			if !strings.Contains(lines[i], n) {
				t.Errorf("%v: note %d = %q, want %q", c.args, i, lines[i], n)
			}
		}
	}

	// From the environment, as fleet's getFlagsFromEnv: FLEETCTL_TUNNEL is common.
	_, errOut, code := runCtlEnv(t, context.Background(), map[string]string{"FLEETCTL_ENDPOINT": f.srv.URL, "FLEETCTL_TUNNEL": "1.2.3.4"}, "list-machines")
	if code != 0 || !strings.Contains(errOut, "--tunnel is ignored") {
		t.Errorf("FLEETCTL_TUNNEL: %d %q", code, errOut)
	}

	// An etcd address as --endpoint, as fleet's docs had it: a note.
	_, errOut, _ = runCtl(t, "http://127.0.0.1:4001", "--request-timeout=0.2", "list-machines")
	if !strings.Contains(errOut, "looks like etcd's port") {
		t.Errorf("etcd endpoint: %q", errOut)
	}

	// What fleet itself refused.
	_, errOut, code = runCtl(t, f.srv.URL, "--driver=grpc", "list-machines")
	if code != 1 || !strings.Contains(errOut, `unrecognized driver "grpc"`) {
		t.Errorf("--driver=grpc: %d %q", code, errOut)
	}
	_, errOut, code = runCtl(t, f.srv.URL, "--request-timeout=soon", "list-machines")
	if code != 1 || !strings.Contains(errOut, "neither seconds") {
		t.Errorf("--request-timeout=soon: %d %q", code, errOut)
	}
}

func TestFleetCommandFlagsAccepted(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() { f.journals["web.service"] = []string{"hello"} })

	out, errOut, code := runCtl(t, f.srv.URL, "journal", "--sudo", "--output=json", "--ssh-port=2222", "web")
	if code != 0 || out != "hello\n" || strings.Count(errOut, "\n") != 3 ||
		!strings.Contains(errOut, "--sudo is ignored") || !strings.Contains(errOut, "--output is ignored") || !strings.Contains(errOut, "--ssh-port is ignored") {
		t.Errorf("journal: %d %q %q", code, out, errOut)
	}
	_, errOut, code = runCtl(t, f.srv.URL, "status", "--ssh-port=2222", "--lines=0", "web")
	if code != 0 || !strings.Contains(errOut, "--ssh-port is ignored") {
		t.Errorf("status: %d %q", code, errOut)
	}
	out, errOut, code = runCtl(t, f.srv.URL, "destroy", "--no-block", "--block-attempts=3", "db")
	if code != 0 || out != "Destroyed db.service\n" || errOut != "" {
		t.Errorf("destroy: %d %q %q", code, out, errOut)
	}

	// --sign: fleet's warning and exit status 2; --sign=false is fine.
	p := writeFile(t, t.TempDir(), "new.service", "[Service]\nExecStart=/bin/new\n")
	for _, cmd := range []string{"submit", "load", "start"} {
		_, errOut, code = runCtl(t, f.srv.URL, cmd, "--sign", p)
		if code != 2 || errOut != "WARNING: The signed/verified units feature is DEPRECATED and cannot be used.\n" {
			t.Errorf("%s --sign: %d %q", cmd, code, errOut)
		}
	}
	if _, _, code = runCtl(t, f.srv.URL, "submit", "--sign=false", p); code != 0 {
		t.Errorf("submit --sign=false: %d", code)
	}

	// tmachine: fleet's deprecated name of target, with its warning.
	out, errOut, code = runCtl(t, f.srv.URL, "list-unit-files", "--no-legend", "--fields=unit,tmachine")
	if code != 0 || !strings.Contains(out, "web.service\t2c1a4b3d.../10.0.0.1") || !strings.Contains(out, "mon.service\tglobal") ||
		errOut != "WARNING: The \"tmachine\" field is deprecated. Use \"target\" instead\n" {
		t.Errorf("tmachine: %d %q %q", code, out, errOut)
	}
}

// TestNoUnitsGiven: fleet's unit commands print "No units given" and exit 0.
func TestNoUnitsGiven(t *testing.T) {
	f := clusterFixture(t)
	for _, cmd := range []string{"submit", "load", "start", "stop", "unload", "destroy", "restart"} {
		out, errOut, code := runCtl(t, f.srv.URL, cmd)
		if code != 0 || out != "" || errOut != "No units given\n" {
			t.Errorf("%s: %d %q %q", cmd, code, out, errOut)
		}
	}
	for _, cmd := range []string{"cat", "status"} {
		if _, errOut, code := runCtl(t, f.srv.URL, cmd); code != 1 || !strings.Contains(errOut, "no units given") {
			t.Errorf("%s: %d %q", cmd, code, errOut)
		}
	}
}

// TestStopSkipsMissing: a missing unit in the list is named on stderr, the
// others are stopped, and the exit status is 0 (fleet's findUnits skipped it).
func TestStopSkipsMissing(t *testing.T) {
	f := clusterFixture(t)
	f.lock(func() {
		f.onDesired = func(f *fakeFleet, name, state string) {
			f.onStatePoll = placeAfter(2, name, m1, "loaded", "inactive", "dead")
		}
	})
	out, errOut, code := runCtl(t, f.srv.URL, "stop", "ghost", "web.service", "phantom.service")
	if code != 0 || out != "Unit web.service loaded on 2c1a4b3d.../10.0.0.1\n" || errOut != "Units not found, skipped: ghost.service, phantom.service\n" {
		t.Errorf("stop = %d %q %q", code, out, errOut)
	}
	f.lock(func() {
		if got := f.units["web.service"].DesiredState; got != "loaded" {
			t.Errorf("web.service desired %q, want loaded", got)
		}
	})
}

// TestRestart: a started unit is stopped, seen stopped, then started; a
// loaded one is only started; an inactive one is skipped with fleet's words.
func TestRestart(t *testing.T) {
	f := clusterFixture(t)
	var seen []string
	f.lock(func() {
		f.units["db.service"].DesiredState = "loaded"
		f.units["idle.service"] = &schema.Unit{Name: "idle.service", Options: opts(t, "idle.service", "[Service]\nExecStart=/bin/idle\n"), DesiredState: "inactive"}
		f.onDesired = func(f *fakeFleet, name, state string) {
			seen = append(seen, name+"="+state)
			switch state {
			case "loaded":
				f.onStatePoll = placeAfter(2, name, m1, "loaded", "inactive", "dead")
			case "launched":
				f.onStatePoll = placeAfter(2, name, m1, "loaded", "active", "running")
			}
		}
	})
	out, errOut, code := runCtl(t, f.srv.URL, "restart", "web", "db", "idle")
	want := "Unit web.service loaded on 2c1a4b3d.../10.0.0.1\n" +
		"Unit web.service launched on 2c1a4b3d.../10.0.0.1\n" +
		"Unit db.service launched on 2c1a4b3d.../10.0.0.1\n"
	if code != 0 || out != want || errOut != "Unable to restart unit idle.service in state inactive\n" {
		t.Errorf("restart = %d %q %q", code, out, errOut)
	}
	f.lock(func() {
		if got := strings.Join(seen, " "); got != "web.service=loaded web.service=launched db.service=launched" {
			t.Errorf("desired states set: %s", got)
		}
	})
}

// TestUnavailableCommands: fleet's SSH commands say why they are missing
// and what to use; verify is refused as fleet did (exit 2).
func TestUnavailableCommands(t *testing.T) {
	f := clusterFixture(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ssh", "web.service", "uptime"}, 1, "fleetctl ssh is not available"},
		{[]string{"--strict-host-key-checking=false", "ssh", "--forward-agent", "m1"}, 1, "fleetctl journal"},
		{[]string{"fd-forward", "/var/run/fleet.sock"}, 1, "fd-forward is not available"},
		{[]string{"verify", "web.service"}, 2, "DEPRECATED"},
	} {
		_, errOut, code := runCtl(t, f.srv.URL, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v = %d %q, want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
