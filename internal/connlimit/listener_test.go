package connlimit

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/pki"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// mutualTLS returns a server config that requires a client certificate
// and a client config that has one, both from a fresh CA.
func mutualTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(dir, "node", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return server, client
}

// serve runs an HTTP server answering "ok" on a limited listener.
func serve(t *testing.T, tc *tls.Config, lim Limits) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, tc, lim, "test", t.Logf)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil && tc != nil {
			http.Error(w, "no TLS state: the listener hid the *tls.Conn", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}

// get does one request on a fresh connection.
func get(l *Listener, tc *tls.Config) error {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	resp, err := c.Get("https://" + l.Addr().String() + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, string(b)}
	}
	return nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return http.StatusText(e.code) + ": " + e.body }

// closedWithin reports how long the server took to close c (a read
// returning anything but a timeout), or fails after max.
func closedWithin(t *testing.T, c net.Conn, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(max))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", max)
	}
	return time.Since(start)
}

// TestHandshakeTimeout: a client that connects and sends nothing, and one
// that drips a byte of its ClientHello every 100 ms, are both closed at
// the handshake deadline; neither ever reaches the HTTP server.
func TestHandshakeTimeout(t *testing.T) {
	srvTLS, _ := mutualTLS(t)
	l := serve(t, srvTLS, Limits{HandshakeTimeout: 500 * time.Millisecond})
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	drip, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer drip.Close()
	go func() {
		hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
		for _, b := range hello {
			if _, err := drip.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for name, c := range map[string]net.Conn{"silent": silent, "dripping": drip} {
		if d := closedWithin(t, c, 3*time.Second); d > 2*time.Second {
			t.Errorf("%s client closed after %v, want about the 500ms handshake timeout", name, d)
		}
	}
	if s := l.Stats(); s.Failed != 2 || s.Handshaking != 0 || s.Established != 0 {
		t.Errorf("stats %+v, want 2 failed, none handshaking or established", s)
	}
}

// TestEvictOldest: with the handshake cap full of silent connections and a
// long handshake timeout, a real client still gets in, because the oldest
// silent connection is closed to admit it.
func TestEvictOldest(t *testing.T) {
	srvTLS, cliTLS := mutualTLS(t)
	const cap = 8
	l := serve(t, srvTLS, Limits{HandshakeTimeout: time.Minute, MaxHandshakes: cap})
	var silent []net.Conn
	for range cap {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	testutil.WaitFor(t, "the cap of handshakes", 5*time.Second, func() bool { return l.Stats().Handshaking == cap })
	for i := range 3 {
		if err := get(l, cliTLS); err != nil {
			t.Fatalf("request %d with %d silent connections handshaking: %v", i, cap, err)
		}
		// Fill the cap again: the real client's slot is free.
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		testutil.WaitFor(t, "the cap of handshakes", 5*time.Second, func() bool { return l.Stats().Handshaking == cap })
	}
	if s := l.Stats(); s.Evicted != 3 || s.Failed != 0 {
		t.Errorf("stats %+v, want 3 evicted, none failed", s)
	}
	// The three oldest went, in order.
	for _, c := range silent[:3] {
		closedWithin(t, c, 2*time.Second)
	}
	silent[3].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := silent[3].Read(make([]byte, 1)); err == nil || !err.(net.Error).Timeout() {
		t.Errorf("the 4th silent connection was closed (%v); only the 3 oldest should be", err)
	}
}

// TestEvictSilentFirst: a client that has sent its whole ClientHello (and
// is slow past it) outlives silent connections that came after it: at the
// cap the silent ones are closed first.
func TestEvictSilentFirst(t *testing.T) {
	srvTLS, cliTLS := mutualTLS(t)
	const cap = 4
	l := serve(t, srvTLS, Limits{HandshakeTimeout: time.Minute, MaxHandshakes: cap})
	slow := cliTLS.Clone()
	release := make(chan struct{})
	asked := make(chan struct{})
	slow.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		close(asked)
		<-release // stall after the ClientHello, mid-handshake
		return &cliTLS.Certificates[0], nil
	}
	done := make(chan error, 1)
	go func() { done <- get(l, slow) }()
	<-asked
	var silent []net.Conn
	for range cap {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	testutil.WaitFor(t, "one eviction", 5*time.Second, func() bool { return l.Stats().Evicted == 1 })
	closedWithin(t, silent[0], 2*time.Second)
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the client past its ClientHello was evicted before silent connections: %v", err)
	}
}

// TestMaxConns: established connections past the cap are closed at once,
// and the slot comes back when one closes.
func TestMaxConns(t *testing.T) {
	srvTLS, cliTLS := mutualTLS(t)
	l := serve(t, srvTLS, Limits{MaxConns: 2})
	tr := &http.Transport{TLSClientConfig: cliTLS, MaxConnsPerHost: 1}
	var held []*http.Client
	for range 2 {
		// One transport each, so each holds its own idle connection.
		c := &http.Client{Timeout: 5 * time.Second, Transport: tr.Clone()}
		resp, err := c.Get("https://" + l.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		held = append(held, c)
	}
	if err := get(l, cliTLS); err == nil {
		t.Fatal("a third connection was served with MaxConns 2")
	}
	if s := l.Stats(); s.Refused != 1 || s.Established != 2 {
		t.Errorf("stats %+v, want 1 refused, 2 established", s)
	}
	held[0].CloseIdleConnections()
	testutil.WaitFor(t, "one established connection", 5*time.Second, func() bool { return l.Stats().Established == 1 })
	if err := get(l, cliTLS); err != nil {
		t.Errorf("after one connection closed: %v", err)
	}
	held[1].CloseIdleConnections()
}

// TestPlainMaxConns: without TLS (the unix socket), only the cap applies.
func TestPlainMaxConns(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, nil, Limits{MaxConns: 1}, "plain", t.Logf)
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sa, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	closedWithin(t, b, 2*time.Second)
	sa.Close()
	testutil.WaitFor(t, "no established connection", 5*time.Second, func() bool { return l.Stats().Established == 0 })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := l.Accept(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Refused != 1 {
		t.Errorf("stats %+v, want 1 refused", s)
	}
}
