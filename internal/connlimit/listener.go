package connlimit

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHandshakeTimeout is how long a client has to finish its TLS
// handshake. A client on the same continent needs a few round trips.
const DefaultHandshakeTimeout = 5 * time.Second

// Limits bounds one listener.
type Limits struct {
	// HandshakeTimeout: a connection that has not finished its TLS
	// handshake by then is closed. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHandshakes caps connections still handshaking; at the cap the
	// oldest is closed. Zero: no cap.
	MaxHandshakes int
	// MaxConns caps established connections (after the handshake, or
	// accepted, without TLS); past it a new one is closed. Zero: no cap.
	MaxConns int
}

// Stats counts what a Listener has done, for logs and tests.
type Stats struct {
	Handshaking, Established int    // now
	Evicted                  uint64 // closed while handshaking to admit a newer one
	Failed                   uint64 // handshake failed or timed out
	Refused                  uint64 // established, but over MaxConns
}

// Listener accepts from an inner listener, handshakes TLS (when it has a
// config) under Limits, and hands on only finished connections. Accept
// returns a *tls.Conn when it has a config, so http.Server sees r.TLS.
type Listener struct {
	inner net.Listener
	tls   *tls.Config
	lim   Limits
	name  string
	logf  func(string, ...any)

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error

	mu sync.Mutex
	// Connections still handshaking, oldest at the front of each list:
	// waiting for a whole ClientHello (evicted first), and past it.
	pending, hello *list.List // of *pending
	established    int
	lastLog        time.Time
	logged         Stats

	evicted, failed, refused atomic.Uint64
}

// New wraps inner. tc nil: no TLS, only MaxConns applies. name (e.g. "API
// tcp 0.0.0.0:7700") and logf, which may be nil, report floods, at most
// every 10 s.
func New(inner net.Listener, tc *tls.Config, lim Limits, name string, logf func(string, ...any)) *Listener {
	if lim.HandshakeTimeout <= 0 {
		lim.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &Listener{inner: inner, tls: tc, lim: lim, name: name, logf: logf,
		conns: make(chan net.Conn), done: make(chan struct{}), pending: list.New(), hello: list.New()}
	if tc != nil {
		l.tls = tc.Clone()
		next := tc.GetConfigForClient
		l.tls.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			if c, ok := h.Conn.(*conn); ok {
				l.sentHello(c.p)
			}
			if next != nil {
				return next(h)
			}
			return nil, nil
		}
	}
	go l.acceptLoop()
	return l
}

// Accept returns the next established connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		return nil, l.err
	}
}

// Close closes the inner listener and every connection still handshaking.
// Established connections belong to whoever accepted them.
func (l *Listener) Close() error {
	err := l.inner.Close()
	l.stop(fmt.Errorf("connlimit: %s: %w", l.name, net.ErrClosed))
	return err
}

// Addr is the inner listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Stats reports the counts so far.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statsLocked()
}

func (l *Listener) statsLocked() Stats {
	return Stats{Handshaking: l.pending.Len() + l.hello.Len(), Established: l.established,
		Evicted: l.evicted.Load(), Failed: l.failed.Load(), Refused: l.refused.Load()}
}

func (l *Listener) stop(err error) {
	l.closeOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		close(l.done)
		l.mu.Lock()
		for _, q := range []*list.List{l.pending, l.hello} {
			for e := q.Front(); e != nil; e = q.Front() {
				q.Remove(e).(*pending).raw.Close()
			}
		}
		l.mu.Unlock()
	})
}

func (l *Listener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.stop(err)
				return
			}
			// EMFILE, ENFILE, ECONNABORTED...: back off as http.Server
			// does, and keep serving once descriptors are free again.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.logf("connlimit: %s: accept: %v; retrying in %v", l.name, err, delay)
			select {
			case <-time.After(delay):
				continue
			case <-l.done:
				return
			}
		}
		delay = 0
		if l.tls == nil {
			l.admit(c, c)
			continue
		}
		p := l.addPending(c)
		go l.handshake(p)
	}
}

// pending is a connection still handshaking. Its fields are guarded by
// Listener.mu.
type pending struct {
	raw     net.Conn
	q       *list.List // pending or hello
	e       *list.Element
	evicted bool // closed to admit a newer one
}

// addPending records a handshaking connection, closing the oldest one if
// that goes over the cap: the oldest of those that have not sent a whole
// ClientHello if there is one (a real client sends it at once, a slow
// attacker never does), else the oldest of the others.
func (l *Listener) addPending(c net.Conn) *pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &pending{raw: c, q: l.pending}
	p.e = l.pending.PushBack(p)
	if l.lim.MaxHandshakes > 0 && l.pending.Len()+l.hello.Len() > l.lim.MaxHandshakes {
		q := l.pending
		if q.Len() == 1 { // only the newcomer
			q = l.hello
		}
		old := q.Remove(q.Front()).(*pending)
		old.evicted = true
		old.raw.Close()
		l.evicted.Add(1)
		l.maybeLogLocked()
	}
	return p
}

// sentHello moves p to the connections past their ClientHello.
func (l *Listener) sentHello(p *pending) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.evicted || p.q != l.pending {
		return
	}
	l.pending.Remove(p.e)
	p.q, p.e = l.hello, l.hello.PushBack(p)
}

func (l *Listener) handshake(p *pending) {
	cc := &conn{Conn: p.raw, l: l, p: p}
	tc := tls.Server(cc, l.tls)
	_ = p.raw.SetDeadline(time.Now().Add(l.lim.HandshakeTimeout))
	err := tc.Handshake()
	if err == nil {
		err = p.raw.SetDeadline(time.Time{})
	}
	l.mu.Lock()
	p.q.Remove(p.e) // no-op if evicted or closed
	if err != nil {
		if !p.evicted {
			l.failed.Add(1)
		}
		l.maybeLogLocked()
	}
	l.mu.Unlock()
	if err != nil {
		p.raw.Close()
		return
	}
	l.admit(tc, cc)
}

// admit hands an established connection to Accept, or closes it over
// MaxConns. counted is the connection whose Close releases the slot.
func (l *Listener) admit(c net.Conn, counted net.Conn) {
	l.mu.Lock()
	if l.lim.MaxConns > 0 && l.established >= l.lim.MaxConns {
		l.refused.Add(1)
		l.maybeLogLocked()
		l.mu.Unlock()
		c.Close()
		return
	}
	l.established++
	l.mu.Unlock()
	if cc, ok := counted.(*conn); ok {
		cc.admitted.Store(true)
	} else {
		c = &conn{Conn: c, l: l}
		c.(*conn).admitted.Store(true)
	}
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *Listener) release() {
	l.mu.Lock()
	l.established--
	l.mu.Unlock()
}

// maybeLogLocked reports evictions, failures and refusals since the last
// report, at most every 10 s.
func (l *Listener) maybeLogLocked() {
	now := time.Now()
	if now.Sub(l.lastLog) < 10*time.Second {
		return
	}
	s := l.statsLocked()
	l.logf("connlimit: %s: %d handshaking (cap %d), %d established (cap %d); since last report %d evicted while handshaking, %d failed handshakes, %d refused over the cap",
		l.name, s.Handshaking, l.lim.MaxHandshakes, s.Established, l.lim.MaxConns,
		s.Evicted-l.logged.Evicted, s.Failed-l.logged.Failed, s.Refused-l.logged.Refused)
	l.lastLog, l.logged = now, s
}

// conn releases its listener's slot once, when closed after admission.
type conn struct {
	net.Conn
	l        *Listener
	p        *pending // while handshaking
	admitted atomic.Bool
	once     sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.admitted.Load() {
		c.once.Do(c.l.release)
	}
	return err
}
