package clustertest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Floods is how many slow connections the flood tests hold against each
// port (issue 17, item 4: about 20,000 exhausted fleetd's descriptors).
const Floods = 20000

// PerFlooder is how many connections one flooder process holds: each
// needs a descriptor, and an unprivileged process keeps the host's limit.
const PerFlooder = 10000

var (
	flooderOnce sync.Once
	flooderBin  string
	flooderErr  error
)

// buildFlooder builds ./internal/clustertest/flooder into a directory
// that user nobody may enter.
func buildFlooder() (string, error) {
	flooderOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			flooderErr = err
			return
		}
		dir, err := os.MkdirTemp("", "flotilla-flooder-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			flooderErr = err
			return
		}
		flooderBin = filepath.Join(dir, "flooder")
		cmd := exec.Command("go", "build", "-o", flooderBin, "./internal/clustertest/flooder")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			flooderErr = fmt.Errorf("go build flooder: %v\n%s", err, out)
		}
	})
	return flooderBin, flooderErr
}

// Flood is a set of flooder processes, running as nobody, holding slow
// connections that never finish a TLS handshake.
type Flood struct {
	mu    sync.Mutex
	procs []*flooder
}

type flooder struct {
	cmd  *exec.Cmd
	last string // its last status line
}

// StartFlood holds n connections to addr (host:port on loopback) from
// processes of PerFlooder connections each, until Stop or the end of the
// test.
func StartFlood(t testing.TB, addr string, n int) *Flood {
	t.Helper()
	bin, err := buildFlooder()
	if err != nil {
		t.Fatal(err)
	}
	f := &Flood{}
	for n > 0 {
		k := min(n, PerFlooder)
		n -= k
		// At nice 19: the attacker's own CPU is not what is under test
		// (on a small shared CI host it would starve etcd's lease
		// renewals whatever fleetd did); the descriptors are.
		cmd := exec.Command("nice", "-n", "19", bin, "-addr", addr, "-n", fmt.Sprint(k))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start flooder as nobody: %v", err)
		}
		p := &flooder{cmd: cmd}
		f.procs = append(f.procs, p)
		go func() {
			s := bufio.NewScanner(out)
			for s.Scan() {
				f.mu.Lock()
				p.last = s.Text()
				f.mu.Unlock()
			}
		}()
	}
	t.Cleanup(f.Stop)
	return f
}

// Status is each flooder's last "open= dials= closed= failed=" line.
func (f *Flood) Status() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, p := range f.procs {
		s = append(s, p.last)
	}
	return s
}

// Connected is how many connections the flooders have opened so far.
func (f *Flood) Connected() int {
	total := 0
	for _, s := range f.Status() {
		var open, dials, closed, failed int
		if _, err := fmt.Sscanf(s, "open=%d dials=%d closed=%d failed=%d", &open, &dials, &closed, &failed); err == nil {
			total += dials - failed
		}
	}
	return total
}

// Stop kills the flooders; their connections close with them.
func (f *Flood) Stop() {
	for _, p := range f.procs {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	f.procs = nil
}

// FreshConnClient is an HTTP client with the cluster's client certificate
// that opens a new connection, with a new TLS handshake, for every
// request: the way a fleetctl command meets the API.
func (c *Cluster) FreshConnClient(timeout time.Duration) *http.Client {
	c.T.Helper()
	if c.TLS == nil {
		c.T.Fatal("FreshConnClient needs EnableTLS")
	}
	cert, err := tls.LoadX509KeyPair(c.TLS.Client.CertFile, c.TLS.Client.KeyFile)
	must(c.T, err)
	pem, err := os.ReadFile(c.TLS.CA)
	must(c.T, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool},
		DisableKeepAlives: true,
	}}
}

// Get does one request and checks for 200. An error says how far the
// request got: connected, TLS handshake done, response started.
func Get(cl *http.Client, url string) error {
	start := time.Now()
	var mu sync.Mutex
	var steps []string
	step := func(s string) {
		mu.Lock()
		steps = append(steps, fmt.Sprintf("%s at %v", s, time.Since(start).Round(time.Millisecond)))
		mu.Unlock()
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		ConnectDone:          func(string, string, error) { step("connected") },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { step("handshake done") },
		GotFirstResponseByte: func() { step("first byte") },
	}))
	resp, err := cl.Do(req)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
		}
	}
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%w (%s)", err, strings.Join(steps, ", "))
	}
	return nil
}

// TreeCPUTime is the CPU time pid and its descendants have used.
func TreeCPUTime(pid int) time.Duration {
	d := CPUTime(pid)
	for _, p := range Descendants(pid) {
		d += CPUTime(p)
	}
	return d
}

// CPUTime is the user and system time pid has used, 0 if unknown.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// CPUTime is the CPU time the flooders have used so far.
func (f *Flood) CPUTime() time.Duration {
	var d time.Duration
	for _, p := range f.procs {
		d += CPUTime(p.cmd.Process.Pid)
	}
	return d
}
