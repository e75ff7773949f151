package dns

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestUpstreams: the node's resolvers come from its resolv.conf, less
// fleetd's own addresses (a resolv.conf naming fleetd must not make it
// forward to itself), and are read again when the file changes.
func TestUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	write := func(s string, mtime time.Time) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("nameserver 127.0.0.1\nnameserver 10.0.0.53\nnameserver 192.0.2.53\nsearch x\n", time.Unix(1000, 0))
	// A wildcard listener is every local address, loopback included.
	if got := fmt.Sprint(newUpstreams(nil, path, []string{"0.0.0.0:53"}).get()); got != "[10.0.0.53:53 192.0.2.53:53]" {
		t.Fatalf("upstreams %s, want the two others", got)
	}
	if got := fmt.Sprint(newUpstreams(nil, path, []string{"127.0.0.1:5353"}).get()); got != "[127.0.0.1:53 10.0.0.53:53 192.0.2.53:53]" {
		t.Fatalf("upstreams %s, want all three (another port)", got)
	}
	u := newUpstreams(nil, path, []string{"127.0.0.1:53"})
	if got := fmt.Sprint(u.get()); got != "[10.0.0.53:53 192.0.2.53:53]" {
		t.Fatalf("upstreams %s, want the two others", got)
	}
	write("nameserver 198.51.100.1\n", time.Unix(2000, 0))
	if got := fmt.Sprint(u.get()); got != "[198.51.100.1:53]" {
		t.Fatalf("after a rewrite: upstreams %s", got)
	}
	if got := fmt.Sprint(newUpstreams([]string{"192.0.2.1:5353"}, path, nil).get()); got != "[192.0.2.1:5353]" {
		t.Fatalf("fixed upstreams %s", got)
	}
}
