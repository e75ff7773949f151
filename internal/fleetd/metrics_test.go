package fleetd

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/metrics"
)

// TestMetricsListenFlag: the default is loopback and only a default that
// cannot bind is tolerated; another address serves only when named, ”
// turns the listener off, and a malformed one is refused.
func TestMetricsListenFlag(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		want        string
		wantDefault bool
		err         string
	}{
		{nil, metrics.DefaultListen, true, ""},
		{[]string{"--metrics-listen", ""}, "", false, ""},
		{[]string{"--metrics-listen", "0.0.0.0:9750"}, "0.0.0.0:9750", false, ""},
		{[]string{"--metrics-listen", "localhost:9000"}, "localhost:9000", false, ""},
		{[]string{"--metrics-listen", ":9750"}, "", false, `--metrics-listen ":9750": want IP:port`},
		{[]string{"--metrics-listen", "example.com:9750"}, "", false, "want IP:port"},
		{[]string{"--metrics-listen", "127.0.0.1"}, "", false, "want IP:port"},
	} {
		c, err := ParseFlags(append([]string{"--name", "n1"}, tc.args...), io.Discard)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case c.MetricsListen != tc.want || c.MetricsListenDefault != tc.wantDefault:
			t.Errorf("%q: listen %q (default %v), want %q (%v)", tc.args, c.MetricsListen, c.MetricsListenDefault, tc.want, tc.wantDefault)
		}
	}
	if h, _, _ := net.SplitHostPort(metrics.DefaultListen); !net.ParseIP(h).IsLoopback() {
		t.Fatalf("default --metrics-listen %s is not loopback", metrics.DefaultListen)
	}
}

// TestServeMetricsDefaultBusy: a second fleetd on the host finds the
// default address taken and goes on without it; an address the user gave
// that cannot bind is an error.
func TestServeMetricsDefaultBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := metrics.New(metrics.Sources{})
	id := func(h http.Handler) http.Handler { return h }
	logs := 0
	srv, err := serveMetrics(Config{MetricsListen: l.Addr().String(), MetricsListenDefault: true}, m, id, func(string, ...any) { logs++ })
	if srv != nil || err != nil || logs != 1 {
		t.Fatalf("busy default: server %v, error %v, %d log lines; want none, none, 1", srv, err, logs)
	}
	if _, err := serveMetrics(Config{MetricsListen: l.Addr().String()}, m, id, func(string, ...any) {}); err == nil {
		t.Fatal("busy explicit --metrics-listen: no error")
	}
}
