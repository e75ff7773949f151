package logforward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Timings of a sender; tests shorten them.
var (
	dialTimeout  = 5 * time.Second
	writeTimeout = 10 * time.Second
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 10 * time.Second
	// linger is how long the sender waits, once woken by a first line,
	// for more to share the write: a unit printing line by line would
	// otherwise cost a wake-up and a write(2) per line.
	linger = 5 * time.Millisecond
)

// writeChunk bounds one write on a stream connection.
const writeChunk = 64 << 10

// sender carries one destination's queue to its receiver, reconnecting
// with backoff. It is the only goroutine touching the connection.
type sender struct {
	d       Destination
	machine string
	q       *queue
	tls     *tls.Config // syslog+tls only
	logf    func(string, ...any)

	sent      atomic.Uint64
	connected atomic.Bool

	connMu  sync.Mutex // guards writes of conn, for stopWrites
	conn    net.Conn
	until   time.Time    // set by flush: no dial or write may outlast it
	gone    *atomic.Bool // set when the receiver closed conn (stream protocols)
	lastErr string       // the last error logged, so a down receiver logs once
}

func newSender(d Destination, machine string, logf func(string, ...any)) (*sender, error) {
	s := &sender{d: d, machine: machine, q: newQueue(d.Buffer), logf: logf}
	if d.Protocol == SyslogTLS {
		host, _, _ := net.SplitHostPort(d.Addr)
		s.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if d.CAFile != "" {
			pem, err := os.ReadFile(d.CAFile)
			if err != nil {
				return nil, fmt.Errorf("log forward destination %s: ca=: %w", d.Name(), err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("log forward destination %s: ca=%s holds no PEM certificate", d.Name(), d.CAFile)
			}
			s.tls.RootCAs = pool
		}
	}
	return s, nil
}

// run sends until ctx is done, then flushes what is queued for at most
// flushTimeout, and closes the connection.
func (s *sender) run(ctx context.Context, flushTimeout time.Duration) {
	stop := context.AfterFunc(ctx, func() { s.stopWrites(flushTimeout) })
	defer stop()
	var recs []record
	var data, out []byte
	backoff := backoffMin
	for {
		select {
		case <-ctx.Done():
			s.flush(flushTimeout, recs, data, out)
			return
		case <-s.q.wake:
		}
		time.Sleep(linger)
		recs, data = s.q.take(recs, data)
		for done := 0; done < len(recs); {
			n, err := s.send(recs[done:], data, &out)
			done += n
			if err == nil {
				backoff = backoffMin
				continue
			}
			s.down(err)
			// Keep the unsent records and retry; meanwhile new lines
			// fill the queue up to its bound, then are dropped.
			select {
			case <-ctx.Done():
				s.flush(flushTimeout, recs[done:], data, out)
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, backoffMax)
		}
	}
}

func (s *sender) setConn(c net.Conn) {
	s.connMu.Lock()
	s.conn = c
	s.connMu.Unlock()
}

// stopWrites cuts a write in progress short at d from now (Close).
func (s *sender) stopWrites(d time.Duration) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn != nil {
		s.conn.SetWriteDeadline(time.Now().Add(d))
	}
}

// deadline is when a dial or write started now must end.
func (s *sender) deadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if !s.until.IsZero() && s.until.Before(t) {
		return s.until
	}
	return t
}

// flush makes one last attempt at what is pending, bounded in time.
func (s *sender) flush(d time.Duration, recs []record, data, out []byte) {
	deadline := time.Now().Add(d)
	s.until = deadline
	more, mdata := s.q.take(nil, nil)
	for _, batch := range []struct {
		r []record
		d []byte
	}{{recs, data}, {more, mdata}} {
		for len(batch.r) > 0 && time.Now().Before(deadline) {
			n, err := s.send(batch.r, batch.d, &out)
			batch.r = batch.r[n:]
			if err != nil {
				s.down(err)
				break
			}
		}
		s.q.dropped.Add(uint64(len(batch.r)))
	}
	if s.conn != nil {
		s.conn.Close()
		s.setConn(nil)
	}
	s.connected.Store(false)
}

// down drops the connection after an error, logging each new error once.
func (s *sender) down(err error) {
	if s.conn != nil {
		s.conn.Close()
		s.setConn(nil)
	}
	s.connected.Store(false)
	if msg := err.Error(); msg != s.lastErr {
		s.lastErr = msg
		s.logf("log forward %s: %v; lines wait in a buffer of %d bytes, then are dropped (counted)", s.d.Name(), err, s.d.Buffer)
	}
}

// send writes records from the front of recs; it returns how many left
// (sent, or dropped for good) and the error that stopped it.
func (s *sender) send(recs []record, data []byte, out *[]byte) (int, error) {
	if s.conn != nil && s.gone != nil && s.gone.Load() {
		s.conn.Close()
		s.setConn(nil)
	}
	if s.conn == nil {
		c, err := s.dial()
		if err != nil {
			return 0, err
		}
		s.setConn(c)
		s.connected.Store(true)
		if s.lastErr != "" {
			s.logf("log forward %s: connected", s.d.Name())
			s.lastErr = ""
		}
	}
	if s.d.Protocol == SyslogUDP {
		return s.sendDatagrams(recs, data, out)
	}
	done := 0
	for done < len(recs) {
		b := (*out)[:0]
		n := done
		for ; n < len(recs) && len(b) < writeChunk; n++ {
			r := recs[n]
			msg := trimNewline(data[r.off : r.off+r.n])
			if s.d.Protocol == JSONTCP {
				b = appendJSON(b, r, s.machine, msg)
			} else {
				b = appendOctetCounted(b, r, s.machine, msg)
			}
		}
		*out = b
		s.conn.SetWriteDeadline(s.deadline(writeTimeout))
		if _, err := s.conn.Write(b); err != nil {
			// Part of b may have reached the receiver: those lines are
			// not sent again, and count as dropped.
			s.q.dropped.Add(uint64(n - done))
			return n, err
		}
		s.sent.Add(uint64(n - done))
		done = n
	}
	return done, nil
}

// sendDatagrams sends one record per datagram (RFC 5426). A failed send
// (such as the ICMP refusal of a closed port, reported on a later send)
// drops that record and ends the batch, so the sender backs off.
func (s *sender) sendDatagrams(recs []record, data []byte, out *[]byte) (int, error) {
	for i, r := range recs {
		b := appendSyslog((*out)[:0], r, s.machine, trimNewline(data[r.off:r.off+r.n]))
		*out = b
		s.conn.SetWriteDeadline(s.deadline(writeTimeout))
		if _, err := s.conn.Write(b); err != nil {
			s.q.dropped.Add(1)
			return i + 1, err
		}
		s.sent.Add(1)
	}
	return len(recs), nil
}

func (s *sender) dial() (net.Conn, error) {
	ctx, cancel := context.WithDeadline(context.Background(), s.deadline(dialTimeout))
	defer cancel()
	if s.d.Protocol == SyslogUDP {
		var d net.Dialer
		s.gone = nil
		return d.DialContext(ctx, "udp", s.d.Addr)
	}
	var c net.Conn
	var err error
	if s.d.Protocol == SyslogTLS {
		d := tls.Dialer{Config: s.tls}
		c, err = d.DialContext(ctx, "tcp", s.d.Addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", s.d.Addr)
	}
	if err != nil {
		return nil, err
	}
	s.gone = new(atomic.Bool)
	go s.watchClose(c, s.gone)
	return c, nil
}

// watchClose notes when the receiver closes its side of a stream
// connection (a receiver sends nothing), so the next batch goes to a new
// connection instead of into a dead one's send buffer.
func (s *sender) watchClose(c net.Conn, gone *atomic.Bool) {
	var b [512]byte
	for {
		if _, err := c.Read(b[:]); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				gone.Store(true)
				s.connected.Store(false)
			}
			return
		}
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
