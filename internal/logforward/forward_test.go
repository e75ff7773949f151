package logforward

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/pki"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

func newForwarder(t *testing.T, dest string) *Forwarder {
	t.Helper()
	d, err := Parse(dest)
	if err != nil {
		t.Fatal(err)
	}
	f, err := New([]Destination{d}, Options{Machine: "m1", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func TestJSONLinesOverTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := newForwarder(t, "json+tcp://"+l.Addr().String())
	f.Lines("web.service", Stdout, []byte("one\ntwo\n"))
	f.Lines("web.service", Stderr, []byte("three"))
	f.Writer("fleetd").Write([]byte("2026/12/05 18:34:59.123456 fleetd: ready\n"))

	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	sc := bufio.NewScanner(c)
	var got []string
	for len(got) < 4 && sc.Scan() {
		var rec struct{ Time, Machine, Unit, Stream, Message string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec.Time); err != nil || rec.Machine != "m1" {
			t.Fatalf("record %q: bad time or machine", sc.Text())
		}
		got = append(got, rec.Unit+"/"+rec.Stream+"/"+rec.Message)
	}
	want := []string{"web.service/stdout/one", "web.service/stdout/two", "web.service/stderr/three", "fleetd/log/fleetd: ready"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	eventually(t, 5*time.Second, func() error {
		if st := f.Stats()[0]; st.Sent != 4 || st.Dropped != 0 || !st.Connected {
			return fmt.Errorf("stats %+v, want 4 sent, none dropped, connected", st)
		}
		return nil
	})
}

// readFrames reads RFC 6587 octet-counted frames.
func readFrames(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		ls, err := r.ReadString(' ')
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		l, err := strconv.Atoi(strings.TrimSuffix(ls, " "))
		if err != nil {
			t.Fatalf("bad frame length %q", ls)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestSyslogOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA(dir, "test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(dir, "receiver", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	listen := func() net.Listener {
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}

	// Without the CA, the server is not trusted: nothing is sent.
	l := listen()
	untrusted := newForwarder(t, "syslog+tls://"+l.Addr().String())
	untrusted.Lines("web.service", Stdout, []byte("secret\n"))
	go func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}(l)
	eventually(t, 10*time.Second, func() error {
		if st := untrusted.Stats()[0]; st.Sent != 0 || st.Connected {
			return fmt.Errorf("untrusted server: %+v", st)
		}
		return nil
	})
	untrusted.Close()

	l2 := listen()
	f := newForwarder(t, "syslog+tls://"+l2.Addr().String()+"?ca="+ca.CertFile)
	f.Lines("web.service", Stdout, []byte("hello over tls\n"))
	f.Lines("web.service", Stderr, []byte("an error\n"))
	c, err := l2.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := readFrames(t, bufio.NewReader(c), 2)
	for i, want := range []string{"<30>1 ", "<27>1 "} {
		if !strings.HasPrefix(got[i], want) || !strings.Contains(got[i], ` m1 web.service - `) {
			t.Fatalf("frame %d %q: want %s... with host m1 and app web.service", i, got[i], want)
		}
	}
	if !strings.HasSuffix(got[0], "] hello over tls") || !strings.HasSuffix(got[1], "] an error") {
		t.Fatalf("messages: %q", got)
	}
}

func TestSyslogOverUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f := newForwarder(t, "syslog+udp://"+pc.LocalAddr().String())
	f.Lines("db.service", Stdout, []byte("a\nb\n"))
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 9000)
	for _, want := range []string{"] a", "] b"} {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if d := string(buf[:n]); !strings.HasPrefix(d, "<30>1 ") || !strings.HasSuffix(d, want) {
			t.Fatalf("datagram %q, want one record ending %q", d, want)
		}
	}
}

// A receiver that is down costs the bounded buffer and a counter: Lines
// returns at once however much is written.
func TestDownReceiverDropsAndCounts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	f := newForwarder(t, "syslog+tcp://"+addr+"?buffer=4k")
	line := []byte(strings.Repeat("x", 100) + "\n")
	start := time.Now()
	for range 10000 {
		f.Lines("noisy.service", Stdout, line)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10,000 lines to a down receiver took %v", d)
	}
	st := f.Stats()[0]
	// The buffer holds 4 KiB; the sender may hold one batch more.
	if st.Dropped < 10000-2*(4096/(100+recordOverhead)) || st.Sent != 0 || st.Connected || st.Buffered > 4096 {
		t.Fatalf("stats %+v: want nearly all 10,000 dropped, none sent, not connected, at most 4 KiB buffered", st)
	}
}

// A receiver that closes the connection gets the lines after the sender
// reconnects.
func TestReconnects(t *testing.T) {
	old := backoffMin
	backoffMin = 10 * time.Millisecond
	t.Cleanup(func() { backoffMin = old }) // after the forwarder's Close
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := newForwarder(t, "json+tcp://"+l.Addr().String())
	f.Lines("u", Stdout, []byte("first\n"))
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, `"first"`) {
		t.Fatalf("first connection: %q, %v", line, err)
	}
	c.Close()
	eventually(t, 5*time.Second, func() error {
		if f.Stats()[0].Connected {
			return fmt.Errorf("still connected after the receiver closed")
		}
		return nil
	})
	f.Lines("u", Stdout, []byte("second\n"))
	c, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, `"second"`) {
		t.Fatalf("after reconnecting: %q, %v", line, err)
	}
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	if err := testutil.Eventually(d, f); err != nil {
		t.Fatal(err)
	}
}

// Close is bounded even when the receiver takes the connection and never
// reads: the write in progress and the last flush are cut short.
func TestCloseIsBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never read
		}
	}()
	d, err := Parse("syslog+tcp://" + l.Addr().String() + "?buffer=64m")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New([]Destination{d}, Options{Machine: "m1", FlushTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 1000) + "\n")
	for range 20000 { // 20 MB: more than the socket buffers hold
		f.Lines("u", Stdout, line)
	}
	time.Sleep(200 * time.Millisecond) // the sender is blocked in a write now
	start := time.Now()
	f.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v with a receiver that never reads", took)
	}
	if st := f.Stats()[0]; st.Dropped == 0 {
		t.Fatalf("stats %+v: the unsent lines were not counted as dropped", st)
	}
}
