package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/connlimit"
)

// Config wires a Server.
type Config struct {
	// Listen are host:port addresses, each served over UDP and TCP.
	Listen []string
	// FreeBind are listen addresses bound before they exist on the node
	// (IP_FREEBIND): the bridge gateway, which appears when the bridge
	// is set up, after the DNS has started.
	FreeBind []string
	// Upstreams (host:port) get every name outside the zone; nil reads
	// the nameservers of ResolvConf, less the server's own addresses.
	Upstreams  []string
	ResolvConf string // default /etc/resolv.conf
	// MaxForwards caps forwarded queries in flight; beyond it a query
	// gets SERVFAIL at once (default 64). Local names are never capped:
	// they cost a map lookup.
	MaxForwards    int
	ForwardTimeout time.Duration // per upstream (default 2 s)
	MaxTCPConns    int           // open TCP connections (default 256)
	// MaxInFlight caps queries being answered at once; beyond it a UDP
	// query is dropped unanswered (the client retries), so a flood that
	// outruns the answers costs a read each, not a goroutine that waits
	// (default 1024).
	MaxInFlight int
	Logf        func(format string, args ...any)
}

// Server answers the cluster's names from its View and forwards the rest.
type Server struct {
	cfg   Config
	view  atomic.Pointer[View]
	fwd   chan struct{}
	busy  atomic.Int64 // queries being answered
	udp   *mdns.Client
	tcp   *mdns.Client
	ups   *upstreams
	mu    sync.Mutex
	srvs  []*mdns.Server
	addrs []string
}

// New returns a server answering from an empty view of opts until SetView.
func New(cfg Config, opts Options) *Server {
	if cfg.MaxForwards <= 0 {
		cfg.MaxForwards = 64
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
	}
	if cfg.MaxTCPConns <= 0 {
		cfg.MaxTCPConns = 256
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Server{cfg: cfg, fwd: make(chan struct{}, cfg.MaxForwards),
		udp: &mdns.Client{Net: "udp", Timeout: cfg.ForwardTimeout},
		tcp: &mdns.Client{Net: "tcp", Timeout: cfg.ForwardTimeout},
	}
	s.view.Store(NewView(opts, nil))
	return s
}

// SetView replaces the view; queries in flight finish on the old one.
func (s *Server) SetView(v *View) { s.view.Store(v) }

// View is the view answered from now.
func (s *Server) View() *View { return s.view.Load() }

// Start binds every listen address (UDP and TCP) and serves them. An
// address that cannot be bound fails the start, naming it; nothing is
// left listening then.
func (s *Server) Start() error {
	var srvs []*mdns.Server
	var addrs []string
	fail := func(err error) error {
		for _, srv := range srvs {
			_ = srv.Shutdown()
		}
		return err
	}
	serve := func(srv *mdns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.cfg.Logf("dns: %v", err)
			}
		}()
		<-started
		srvs = append(srvs, srv)
	}
	for _, a := range append(append([]string(nil), s.cfg.Listen...), s.cfg.FreeBind...) {
		free := slices.Contains(s.cfg.FreeBind, a)
		// One UDP socket per CPU (SO_REUSEPORT: the kernel spreads
		// queries over them), each read by its own goroutine.
		var pcs []net.PacketConn
		for i := range udpSockets() {
			addr := a
			if i > 0 {
				addr = pcs[0].LocalAddr().String() // a ":0" port: the first one's
			}
			lc := net.ListenConfig{Control: sockopts(free, true)}
			pc, err := lc.ListenPacket(context.Background(), "udp", addr)
			if err != nil {
				for _, pc := range pcs {
					pc.Close()
				}
				return fail(fmt.Errorf("dns: listen on %s (udp): %w", a, err))
			}
			pcs = append(pcs, pc)
		}
		// The same port over TCP.
		lc := net.ListenConfig{Control: sockopts(free, false)}
		l, err := lc.Listen(context.Background(), "tcp", pcs[0].LocalAddr().String())
		if err != nil {
			for _, pc := range pcs {
				pc.Close()
			}
			return fail(fmt.Errorf("dns: listen on %s (tcp): %w", a, err))
		}
		for _, pc := range pcs {
			serve(&mdns.Server{PacketConn: pc, Handler: s})
		}
		lim := connlimit.New(l, nil, connlimit.Limits{MaxConns: s.cfg.MaxTCPConns}, "DNS tcp "+a, s.cfg.Logf)
		serve(&mdns.Server{Listener: lim, Handler: s, ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }})
		addrs = append(addrs, pcs[0].LocalAddr().String())
	}
	s.mu.Lock()
	s.srvs, s.addrs = srvs, addrs
	s.mu.Unlock()
	s.ups = newUpstreams(s.cfg.Upstreams, s.cfg.ResolvConf, addrs)
	return nil
}

// udpSockets is how many UDP sockets serve each address: one per CPU,
// at most 4.
func udpSockets() int { return min(max(runtime.NumCPU(), 1), 4) }

// sockopts sets IP_FREEBIND (an address that is not up yet) and
// SO_REUSEPORT (several UDP sockets on one port) as asked.
func sockopts(freeBind, reusePort bool) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if freeBind {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			}
			if reusePort && serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}
		})
		return errors.Join(err, serr)
	}
}

// Addrs are the bound addresses (a ":0" port resolved): Listen's, then
// FreeBind's.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Close stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	srvs := s.srvs
	s.srvs = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range srvs {
		errs = append(errs, srv.Shutdown())
	}
	return errors.Join(errs...)
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if s.busy.Add(1) > int64(s.cfg.MaxInFlight) && w.RemoteAddr().Network() == "udp" {
		s.busy.Add(-1)
		return
	}
	defer s.busy.Add(-1)
	if len(r.Question) != 1 || r.Opcode != mdns.OpcodeQuery {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	v := s.view.Load()
	if !v.InZone(r.Question[0].Name) {
		s.forward(w, r)
		return
	}
	rep := Answer(v, r.Question[0])
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Rcode, m.Answer, m.Ns, m.Extra = rep.Rcode, rep.Answer, rep.Ns, rep.Extra
	if w.RemoteAddr().Network() == "udp" {
		size := mdns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
			m.SetEdns0(o.UDPSize(), false)
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// forward asks the node's resolvers, at most MaxForwards at a time.
func (s *Server) forward(w mdns.ResponseWriter, r *mdns.Msg) {
	fail := func() {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	}
	select {
	case s.fwd <- struct{}{}:
		defer func() { <-s.fwd }()
	default:
		fail()
		return
	}
	overTCP := w.RemoteAddr().Network() == "tcp"
	for _, up := range s.ups.get() {
		// UDP first, as a stub resolver asks; a truncated answer is
		// asked again over TCP for a client that came over TCP (a UDP
		// client sees the TC bit and does that itself).
		resp, _, err := s.udp.Exchange(r, up)
		if err == nil && resp.Truncated && overTCP {
			resp, _, err = s.tcp.Exchange(r, up)
		}
		if err != nil {
			continue
		}
		resp.Id = r.Id
		_ = w.WriteMsg(resp)
		return
	}
	fail()
}
