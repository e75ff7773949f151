package clustertest

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// HTTPTemplate is web@.service: busybox httpd on 127.0.0.1:<instance>,
// serving dir; rev tells revisions apart. extra lines go in [Service].
func HTTPTemplate(dir string, rev int, extra string) string {
	return fmt.Sprintf("[Unit]\nDescription=web %%i\n[Service]\nEnvironment=REV=%d\nExecStart=/usr/bin/busybox httpd -f -p 127.0.0.1:%%i -h %s\n%s", rev, dir, extra)
}

// ServeDir makes a directory with an index.html for HTTPTemplate.
func (c *Cluster) ServeDir() string {
	dir := filepath.Join(c.Dir, "www")
	must(c.T, os.MkdirAll(dir, 0o755))
	must(c.T, os.WriteFile(filepath.Join(dir, "index.html"), []byte("ok\n"), 0o644))
	return dir
}

// Looper requests a service of several instances in a loop, the way a
// client of a multi-address name does (Go's net.Dial over a DNS answer):
// each request starts at a random instance and moves to the next while
// connections are refused, or closed before any answer (an instance
// stopped mid-request: a balancer's retry on reset). A request fails when no instance accepts it,
// or one accepts and does not answer 200.
type Looper struct {
	OK, Failed atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	Errors     []string // the first few failures
}

// Loop starts a looper against ports on 127.0.0.1 with workers goroutines.
func Loop(ports []int, workers int) *Looper {
	l := &Looper{stop: make(chan struct{})}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if err := l.once(hc, ports); err != nil {
					l.Failed.Add(1)
					l.mu.Lock()
					if len(l.Errors) < 5 {
						l.Errors = append(l.Errors, err.Error())
					}
					l.mu.Unlock()
				} else {
					l.OK.Add(1)
				}
			}
		}()
	}
	return l
}

func (l *Looper) once(hc *http.Client, ports []int) error {
	start := rand.IntN(len(ports))
	var last error
	for i := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[(start+i)%len(ports)])
		resp, err := hc.Get("http://" + addr + "/index.html")
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
			last = err
			continue // refused, or closed before answering: the next address
		}
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", addr, resp.Status)
		}
		return nil
	}
	return fmt.Errorf("no instance accepted: %v", last)
}

// Stop ends the loop and waits for it.
func (l *Looper) Stop() {
	close(l.stop)
	l.wg.Wait()
}

// hashesOf returns the hash each unit's state reports (one machine each).
func (c *Cluster) hashesOf(names []string) (map[string]string, error) {
	st, err := c.States()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		for _, s := range st[n] {
			if s.SystemdActiveState == "active" {
				out[n] = s.Hash
			}
		}
	}
	return out, nil
}

// WaitHash waits until every unit is active with hash.
func (c *Cluster) WaitHash(names []string, hash string, timeout time.Duration) error {
	return testutil.Eventually(timeout, func() error {
		got, err := c.hashesOf(names)
		if err != nil {
			return err
		}
		for _, n := range names {
			if got[n] != hash {
				return fmt.Errorf("%s active with %.7s, want %.7s", n, got[n], hash)
			}
		}
		return nil
	})
}

// UnitHash is the hash of a unit file's text.
func UnitHash(t testing.TB, name, body string) string {
	f, err := unit.Parse(name, []byte(body))
	must(t, err)
	return f.Hash()
}
