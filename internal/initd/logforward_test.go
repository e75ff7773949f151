package initd

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/logforward"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

func TestLogDestinations(t *testing.T) {
	dir := t.TempDir()
	const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	cfg := &bootconfig.Config{LogForward: []bootconfig.LogDestination{
		{URL: "syslog+udp://10.0.0.5"},
		{URL: "syslog+tls://logs.example?buffer=64k", CA: pem},
	}}
	ds, err := LogDestinations(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Name() != "syslog+udp://10.0.0.5:514" || ds[1].Name() != "syslog+tls://logs.example:6514" || ds[1].Buffer != 64<<10 {
		t.Fatalf("destinations %+v", ds)
	}
	if ds[1].CAFile != filepath.Join(dir, "ca-1.pem") {
		t.Fatalf("CA file %q", ds[1].CAFile)
	}
	if b, _ := os.ReadFile(ds[1].CAFile); string(b) != pem {
		t.Fatalf("CA file holds %q", b)
	}
}

// On the OS, init forwards: a unit's lines, a service's own lines and the
// unit manager's events go out from init, and fleetd reads the counters over the unit
// manager's socket (SocketStats on socketHandler).
func TestInitForwardsUnitsAndServices(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, err := logforward.Parse("json+tcp://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := logforward.New([]logforward.Destination{d}, logforward.Options{Machine: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()

	units, err := native.New(native.Config{Dir: t.TempDir(), CloseTimeout: 5 * time.Second, Forward: forwardUnits(fwd)})
	if err != nil {
		t.Fatal(err)
	}
	defer units.Close()
	svcs := NewServices(mustSupervisor(t, native.Config{Dir: t.TempDir(), CloseTimeout: 5 * time.Second, Forward: forwardServices(fwd)}), &testutil.Buffer{}, DefaultBackoff, t.Logf)
	defer svcs.Close()
	if err := svcs.Start(Service{Name: "fleetd", Argv: []string{"/bin/sh", "-c", "echo '2026/12/05 18:34:59.123456 fleetd: ready' >&2; exec sleep 100"}}); err != nil {
		t.Fatal(err)
	}
	loadStart(t, units, "web.service", "ExecStart=/bin/sh -c 'echo hello; echo oops >&2; exec sleep 100'\n")
	unitEvents(fwd)("Started %s.", "web.service")

	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := bufio.NewScanner(c)
	want := map[string]bool{"web.service stdout hello": true, "web.service stderr oops": true, "fleetd log fleetd: ready": true,
		"init log flotilla: units: Started web.service.": true}
	for len(want) > 0 && sc.Scan() {
		var r struct{ Machine, Unit, Stream, Message string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Machine != "n1" {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		delete(want, r.Unit+" "+r.Stream+" "+r.Message)
	}
	if len(want) > 0 {
		t.Fatalf("not received: %v (%v)", want, sc.Err())
	}

	sock := filepath.Join(t.TempDir(), "units.sock")
	sl, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: socketHandler(http.NotFoundHandler(), fwd)}
	go srv.Serve(sl)
	defer srv.Close()
	st := logforward.SocketStats(sock)()
	if len(st) != 1 || st[0].Destination != d.Name() || st[0].Sent < 3 || !st[0].Connected {
		t.Fatalf("stats over the socket: %+v", st)
	}
}

func mustSupervisor(t *testing.T, cfg native.Config) *native.Supervisor {
	t.Helper()
	s, err := native.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadStart(t *testing.T, s *native.Supervisor, name, service string) {
	t.Helper()
	f, err := unit.Parse(name, []byte("[Service]\n"+service))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(name, f); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(name); err != nil {
		t.Fatal(err)
	}
}
