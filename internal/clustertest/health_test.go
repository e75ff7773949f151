package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestHealthCheckThroughFleetctl: a plain unit's [X-Fleet] HTTP check
// against a real busybox httpd, end to end: the verdict reaches etcd on
// change, list-units --fields unit,health, status and -o json show it;
// a malformed interval is refused at submit, naming the key.
func TestHealthCheckThroughFleetctl(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "busybox")
	c := New(t, 1, 0)
	c.StartAll()
	www := t.TempDir()
	os.Chmod(www, 0o755)
	index := filepath.Join(www, "index.html")
	must(t, os.WriteFile(index, []byte("ok\n"), 0o644))
	port := FreePorts(t, 1)[0]
	c.WriteUnit("web.service", fmt.Sprintf("[Service]\nExecStart=/bin/busybox httpd -f -p 127.0.0.1:%d -h %s\n"+
		"[X-Fleet]\nHealthCheck=http://127.0.0.1:%d/index.html\nHealthCheckInterval=1s\nHealthCheckRetries=1\n", port, www, port))
	c.MustFleetctl("start", "web.service")
	health := func(want string) {
		t.Helper()
		err := testutil.Eventually(30*time.Second, func() error {
			out, _, err := c.Fleetctl("list-units", "--no-legend", "--fields", "unit,health")
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != "web.service\t"+want {
				return fmt.Errorf("list-units: %q", out)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("want %s: %v", want, err)
		}
	}
	health("healthy")
	if out := c.MustFleetctl("status", "--lines", "0", "web.service"); !strings.Contains(out, "   Health: healthy\n") {
		t.Errorf("status lacks the health line:\n%s", out)
	}
	if out := c.MustFleetctl("list-units", "-o", "json"); !strings.Contains(out, `"health":"healthy"`) && !strings.Contains(out, `"health": "healthy"`) {
		t.Errorf("-o json lacks the health:\n%s", out)
	}
	must(t, os.Remove(index)) // 404 from now on
	health("unhealthy")
	// The default list-units output is fleet's: no health column.
	if out := c.MustFleetctl("list-units"); strings.Contains(out, "HEALTH") {
		t.Errorf("the default list-units output grew a health column:\n%s", out)
	}
	c.WriteUnit("bad.service", "[Service]\nExecStart=/bin/sleep 100\n[X-Fleet]\nHealthCheck=tcp://:1\nHealthCheckInterval=5\n")
	_, errOut, err := c.Fleetctl("submit", "bad.service")
	if err == nil || !strings.Contains(errOut, "HealthCheckInterval") {
		t.Errorf("submit with HealthCheckInterval=5: %v %q, want an error naming the key", err, errOut)
	}
}
