package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api"
)

// TestHostCheck: over TCP a foreign Host header (a page that rebound its
// DNS name to the node) gets 421; the machine's names and IP literals are
// served; the unix socket is not checked.
func TestHostCheck(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })
	h := api.HostCheck(ok, []string{"n1", "node-1.example.com"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		host string
		code int
	}{
		{"evil.example.net", http.StatusMisdirectedRequest},
		{"evil.example.net:7700", http.StatusMisdirectedRequest},
		{"n1.evil.example.net", http.StatusMisdirectedRequest},
		{"127.0.0.1:7700", http.StatusOK},
		{"[::1]:7700", http.StatusOK},
		{"10.77.0.1", http.StatusOK},
		{"localhost:7700", http.StatusOK},
		{"N1:7700", http.StatusOK},
		{"node-1.example.com.", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/fleet/v1/machines", nil)
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("Host %s: %d %s, want %d", tc.host, resp.StatusCode, body, tc.code)
		}
		if tc.code != http.StatusOK && !strings.Contains(string(body), "does not name this machine") {
			t.Errorf("Host %s: message %s", tc.host, body)
		}
	}

	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	usrv := &http.Server{Handler: h}
	go usrv.Serve(l)
	defer usrv.Close()
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := uc.Get("http://fleetd/fleet/v1/machines")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("unix socket with Host fleetd: %d, want 200", resp.StatusCode)
	}
}
