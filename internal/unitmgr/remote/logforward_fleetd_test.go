package remote_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestFleetdShowsHostForwarding: with the units hosted (as init hosts
// them on the OS), the host forwards their output, and fleetd's /metrics
// shows the host's counters, read over the socket at scrape time, as
// process="init".
func TestFleetdShowsHostForwarding(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedSlow(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan string, 100)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	dest := "json+tcp://" + l.Addr().String()
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	startHost(t, sock, filepath.Join(dir, "data"), 3*time.Second, "-log-forward", dest)

	c := clustertest.New(t, 1, 0)
	metrics := fmt.Sprintf("127.0.0.1:%d", clustertest.FreePorts(t, 1)[0])
	c.Nodes[0].Extra = []string{"--unit-manager", "unix:" + sock, "--metrics-listen", metrics}
	c.StartAll()
	c.WriteUnit("fw.service", sleeper)
	c.MustFleetctl("start", "--no-block", "fw.service")
	select {
	case l := <-lines:
		if !strings.Contains(l, `"unit":"fw.service"`) || !strings.Contains(l, `"message":"hello from remote"`) {
			t.Fatalf("forwarded %s", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the host forwarded no line of fw.service")
	}
	want := fmt.Sprintf(`flotilla_log_forward_sent_lines_total{destination=%q,process="init"} `, dest)
	if err := testutil.Eventually(10*time.Second, func() error {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, want) && !strings.HasSuffix(line, " 0") {
				return nil
			}
		}
		return fmt.Errorf("/metrics has no %s> 0", want)
	}); err != nil {
		t.Fatal(err)
	}
}
