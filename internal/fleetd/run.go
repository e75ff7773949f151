package fleetd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/flotilla-os/flotilla/internal/agent"
	"github.com/flotilla-os/flotilla/internal/api"
	"github.com/flotilla-os/flotilla/internal/connlimit"
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/engine"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/image/imagehttp"
	"github.com/flotilla-os/flotilla/internal/lifeline"
	"github.com/flotilla-os/flotilla/internal/logforward"
	"github.com/flotilla-os/flotilla/internal/metrics"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/ttl"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
	"github.com/flotilla-os/flotilla/internal/unitmgr/systemd"
	"github.com/flotilla-os/flotilla/internal/version"
)

// Run runs one fleetd until ctx is done, then stops its units, leaves the
// cluster (revoking its lease so its units move at once) and stops etcd.
func Run(ctx context.Context, cfg Config, logger *log.Logger) error {
	logf := logger.Printf
	if cfg.Dev {
		// Made here, not in ParseFlags: the lifeline's outer process
		// parses the flags too, then only waits and exits.
		dir, err := os.MkdirTemp("", "fleetd-dev-")
		if err != nil {
			return fmt.Errorf("fleetd --dev: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("fleetd: data dir: %w", err)
	}
	id, err := machineID(cfg.DataDir)
	if err != nil {
		return err
	}
	fwd, err := startLogForward(cfg, logger)
	if err != nil {
		return err
	}
	defer fwd.Close()
	if fwd != nil {
		prev := logger.Writer()
		logger.SetOutput(io.MultiWriter(prev, fwd.Writer("fleetd")))
		defer logger.SetOutput(prev)
	}
	if cfg.LocalTLS {
		if cfg.TLS, err = nodeLocalTLS(filepath.Join(cfg.DataDir, "tls"), cfg.Name, cfg.Etcd); err != nil {
			return err
		}
	}
	serverTLS, clientTLS, err := tlsConfigs(cfg.TLS)
	if err != nil {
		return err
	}
	// Before etcd starts: it sizes its client connection cap from the
	// limit, and the API's caps are a share of it.
	fds, fdsBefore, ferr := connlimit.RaiseFDLimit()
	if ferr != nil {
		logf("fleetd: %v", ferr)
	}
	logf("fleetd: descriptor limit %d (was %d)", fds, fdsBefore)
	ec := cfg.Etcd
	ec.Name, ec.DataDir, ec.TLS = cfg.Name, cfg.DataDir, cfg.TLS
	// A dead raft leader's machine keeps its lease about three election
	// timeouts past the TTL: they are scaled to the TTL (ttl.RaftElection).
	ec.ElectionTimeout, ec.HeartbeatInterval = ttl.Of(cfg.TTL).RaftElection(), ttl.Of(cfg.TTL).RaftHeartbeat()
	logf("fleetd %s: machine %s, name %s, starting etcd (%s)", version.Version, id, cfg.Name, etcdMode(ec))
	node, err := etcdnode.Start(ctx, ec)
	if err != nil {
		return err
	}
	defer node.Close()
	reg := registry.New(node.Client)
	mx := metrics.New(metrics.Sources{Machines: reg.CountMachines, Version: version.Version})
	if fwd != nil {
		mx.Registry().MustRegister(logforward.Collector("fleetd", fwd.Stats))
	}

	// The subnet is settled before the unit manager sets up the bridge
	// and any container starts.
	cnet, err := joinNetwork(ctx, &cfg, reg, id, logf)
	if err != nil {
		return err
	}
	// On the cluster network every node routes every container subnet,
	// so names answer with the containers' own addresses.
	cfg.DNSContainerAddrs = cfg.DNSContainerAddrs || cnet != nil
	dnsSrv, onBridge, err := startDNS(cfg, cfg.runsBridge(), logf)
	if err != nil {
		if cnet != nil {
			cnet.Leave()
		}
		return err
	}
	defer dnsSrv.Close()
	cfg.dnsOnBridge = onBridge
	um, err := unitManager(ctx, cfg, id, fwd, logf)
	if err != nil {
		if cnet != nil {
			cnet.Leave()
		}
		return err
	}
	cnet = tellHost(ctx, cfg, um, cnet, logf)
	mgr := um.mgr
	if path, ok := cfg.remoteSocket(); ok && um.hosted {
		// The host (init) forwards the units' output: its counters are
		// read over its socket at scrape time.
		mx.Registry().MustRegister(logforward.Collector("init", logforward.SocketStats(path)))
	}

	apiURL := ""
	if cfg.APIListen != "" {
		scheme := "http"
		if serverTLS != nil {
			scheme = "https"
		}
		h, p, _ := net.SplitHostPort(cfg.APIListen)
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = cfg.publicIP()
		}
		apiURL = scheme + "://" + net.JoinHostPort(h, p)
	}
	machine := registry.MachineRecord{ID: id, Name: cfg.Name, PublicIP: cfg.publicIP(), Metadata: cfg.Metadata, APIURL: apiURL, Version: version.Version,
		Capacity: agent.HostCapacity(cfg.Capacity)}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	ag := agent.New(reg, mgr, agent.Config{Machine: machine, TTL: cfg.TTL, Logf: logf, Alive: lifeline.Alive, Metrics: mx})
	eng := engine.New(reg, engine.Config{MachineID: id, TTL: cfg.TTL, Logf: logf, Metrics: mx})
	agentErr := make(chan error, 1)
	wg.Go(func() { agentErr <- ag.Run(runCtx) })
	wg.Go(func() { _ = eng.Run(runCtx) })
	// A raft leader's death is known at the election, long before the
	// new leader lets its machine's extended lease expire.
	node.OnLeaderDeath(runCtx, func(name string) {
		dctx, dcancel := context.WithTimeout(runCtx, cfg.TTL)
		eng.MachineDied(dctx, name)
		dcancel()
	})
	if cnet != nil {
		wg.Go(func() { cnet.Run(runCtx) })
		defer cnet.Close()
	}
	wg.Go(func() { followDNS(runCtx, dnsSrv, reg, cfg, logf) })

	// Reaching another machine's API (journal proxying) must fail fast when
	// that machine is gone; a followed journal then streams without limit.
	peer := &http.Client{Transport: &http.Transport{
		TLSClientConfig:       clientTLS,
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		TLSHandshakeTimeout:   3 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
	acfg := api.Config{Registry: reg, Manager: mgr, MachineID: id, Peer: peer, Images: um.images, DNSDomain: cfg.DNSDomain}
	if cfg.UnitManager == "systemd" {
		// Submit-time checks follow the backend that runs this node's units.
		acfg.ValidateUnit = systemd.Validate
	}
	host, _ := os.Hostname()
	hostCheck := func(h http.Handler) http.Handler {
		return api.HostCheck(h, append([]string{cfg.Name, host}, certNames(serverTLS)...))
	}
	srv := newServer(hostCheck(withMetrics(withStatusPage(api.New(acfg)), mx)))
	listeners, err := listen(cfg, serverTLS, connlimit.Share(fds), logf)
	var msrv *http.Server
	if err == nil {
		if msrv, err = serveMetrics(cfg, mx, hostCheck, logf); err != nil {
			for _, l := range listeners {
				l.Close()
			}
		}
	}
	if err != nil {
		cancel()
		wg.Wait()
		_ = mgr.Close()
		return err
	}
	for _, l := range listeners {
		go func() { _ = srv.Serve(l) }()
	}
	logf("fleetd: ready; machine %s, API on %s", id, describe(listeners))
	if cfg.Dev {
		devHint(listeners, logger)
	}
	// Type=notify under systemd, and how init learns it at boot. The
	// variable goes with the message: units never inherit it. Best
	// effort: a restarted fleetd finds init no longer listening.
	daemon.SdNotify(true, daemon.SdNotifyReady)
	if cfg.SubmitUnits != "" {
		if sock := unixSocket(listeners); sock != "" {
			wg.Go(func() { submitBootUnits(runCtx, cfg.SubmitUnits, sock, cfg.DataDir, logf) })
		} else {
			logf("fleetd: --submit-units: no unix API socket to submit through; the units of %s are not submitted", cfg.SubmitUnits)
		}
	}

	select {
	case <-ctx.Done():
	case err = <-node.Err():
		err = fmt.Errorf("fleetd: etcd member failed: %w", err)
	case err = <-agentErr:
		// Another machine has our ID (the agent's only error): leave.
		if err != nil {
			err = fmt.Errorf("fleetd: %w: give this machine its own ID: stop fleetd, delete %s, start it again", err, filepath.Join(cfg.DataDir, "machine-id"))
		}
	}
	if um.hosted {
		// The units are init's: they keep running, and our lease is left
		// to expire (revoking it now would move units that still run
		// here). The host fences them if no fleetd comes back in time.
		logf("fleetd: shutting down; units keep running in the unit manager")
	} else {
		logf("fleetd: shutting down: stopping units")
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	scancel()
	cancel()
	wg.Wait()
	if cerr := mgr.Close(); cerr != nil {
		logf("fleetd: stop units: %v", cerr)
	}
	// Units stopped: leaving and stopping etcd may outlast the kill
	// deadline of the agent's last renewal without the watchdog's kill.
	lifeline.Alive(time.Time{})
	// Never revoke the lease of the machine registered under our ID when
	// it is another machine's.
	if !um.hosted && !errors.Is(err, registry.ErrMachineIDTaken) {
		leave(reg, id)
	}
	return err
}

// leave revokes our machine lease now that our units are stopped, so the
// engine moves them at once instead of after the TTL.
func leave(reg *registry.Registry, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = reg.RevokeMachine(ctx, id) // best effort: else the lease expires after the TTL
}

// newServer sets the timeouts every API listener gets: a client has 10 s
// for its headers, a minute for a body (a 256 KiB unit file at 4 KiB/s),
// and 90 s idle between requests. There is no write timeout: a followed
// journal streams for as long as the client reads it.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// listen opens the API's listeners, each capped by lim (the unix socket
// has no handshakes, only established connections).
func listen(cfg Config, serverTLS *tls.Config, lim connlimit.Limits, logf func(string, ...any)) ([]net.Listener, error) {
	logf("fleetd: API connections: at most %d handshaking (%v each), %d established per listener", lim.MaxHandshakes, connlimit.DefaultHandshakeTimeout, lim.MaxConns)
	var ls []net.Listener
	if cfg.APISocket != "" {
		l, err := api.ListenUnix(cfg.APISocket)
		if err != nil && cfg.Dev {
			// Not root, or another fleetd has the socket: a socket of
			// our own, in the (0700) data dir.
			logf("fleetd --dev: %v; using a socket in the data dir", err)
			l, err = api.ListenUnix(filepath.Join(cfg.DataDir, "fleetd.sock"))
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE) && cfg.APIListen != "":
			logf("fleetd: %v; serving only TCP %s", err, cfg.APIListen)
		case err != nil:
			return nil, err
		default:
			ls = append(ls, connlimit.New(l, nil, connlimit.Limits{MaxConns: lim.MaxConns}, "API unix "+cfg.APISocket, logf))
		}
	}
	if cfg.APIListen != "" {
		l, err := api.ListenTCP(cfg.APIListen, serverTLS, lim, logf)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, errors.New("fleetd: no API listener: give --api-socket or --api-listen")
	}
	return ls, nil
}

// devHint tells the user of --dev how to reach the API.
func devHint(ls []net.Listener, logger *log.Logger) {
	for _, l := range ls {
		if l.Addr().Network() != "unix" {
			continue
		}
		if l.Addr().String() == DefaultSocket {
			logger.Printf("fleetd --dev: run fleetctl as root: it finds the API at %s by default (FLEETCTL_ENDPOINT=unix://%s)", DefaultSocket, DefaultSocket)
		} else {
			logger.Printf("fleetd --dev: run fleetctl with FLEETCTL_ENDPOINT=unix://%s", l.Addr().String())
		}
	}
}

func describe(ls []net.Listener) string {
	s := ""
	for i, l := range ls {
		if i > 0 {
			s += ", "
		}
		s += l.Addr().Network() + ":" + l.Addr().String()
	}
	return s
}

func etcdMode(c etcdnode.Config) string {
	if c.PeerURL != "" {
		return "member, peer " + c.PeerURL + ", client " + c.ClientURL
	}
	return fmt.Sprintf("client of %v", c.Endpoints)
}

// units is the backend that runs this machine's units.
type units struct {
	mgr    unitmgr.Manager
	images api.Images // nil: no container runtime
	// hosted: the units live in another process (init), reached over a
	// socket; fleetd leaves them running when it exits.
	hosted bool
}

// unitManager picks the backend that runs this machine's units: systemd
// over D-Bus, the native supervisor with its container runtime, or the
// one another process hosts (--unit-manager unix:PATH).
func unitManager(ctx context.Context, cfg Config, id string, fwd *logforward.Forwarder, logf func(string, ...any)) (units, error) {
	host, _ := os.Hostname()
	if path, ok := cfg.remoteSocket(); ok {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		// The host fences our units when we fall silent for as long as our
		// agent would wait without a renewal, so they die before our lease
		// can expire; a host that cannot fence that soon refuses the TTL.
		c, err := remote.DialWith(dctx, path, remote.ClientOptions{Logf: logf, FenceAfter: ttl.Of(cfg.TTL).ManagerFence()})
		if err != nil {
			return units{}, fmt.Errorf("fleetd: --unit-manager %s: %w; is init (or another host) serving the unit manager there?", cfg.UnitManager, err)
		}
		logf("fleetd: units run in the unit manager at %s; they outlive fleetd", path)
		if fwd != nil {
			logf("fleetd: --log-forward: fleetd's own lines only; the units' output is the unit manager's host's to forward")
		}
		return units{mgr: c, images: imagehttp.NewClient(path), hosted: true}, nil
	}
	ncfg := nodeConfig(cfg, id, host, logf)
	if cfg.dnsOnBridge {
		ncfg.DNSDomain = cfg.DNSDomain
	}
	if cfg.UnitManager == "systemd" {
		// systemd runs container units in a root fleetd prepares; bridge
		// networking needs the native manager, so there is no bridge.
		ncfg.BridgeSubnet = ""
		containers, _, err := machine.StartContainers(ncfg)
		if err != nil {
			return units{}, err
		}
		if fwd != nil {
			logf("fleetd: --log-forward: fleetd's own lines only; units under systemd log to its journal, which forwards them itself")
		}
		scfg := systemd.Config{Logf: logf, MachineID: id, Hostname: host}
		if containers != nil {
			scfg.Containers = containers
		}
		m, err := systemd.Dial(ctx, scfg)
		if err != nil {
			return units{}, fmt.Errorf("fleetd: --unit-manager systemd: %w", err)
		}
		return withImages(m, containers), nil
	}
	if fwd != nil {
		ncfg.Forward = forwardUnits(fwd)
	}
	m, err := machine.New(ncfg)
	if err != nil {
		return units{}, fmt.Errorf("fleetd: %w", err)
	}
	return withImages(m, m.Containers), nil
}

func withImages(m unitmgr.Manager, rt *container.Runtime) units {
	u := units{mgr: m}
	if rt != nil {
		u.images = rt
	}
	return u
}

// nodeConfig is the native manager's part of fleetd's flags; its data
// lives in the data dir (units/, images/, containers/) as it always has.
func nodeConfig(cfg Config, id, host string, logf func(string, ...any)) machine.Config {
	return machine.Config{Dir: cfg.DataDir, MachineID: id, Hostname: host,
		NoContainers: cfg.NoContainers, Bridge: cfg.Bridge, BridgeSubnet: cfg.BridgeSubnet,
		ClusterCIDR: cfg.clusterCIDR, BridgeMTU: cfg.bridgeMTU,
		DockerConfig: cfg.DockerConfig, InsecureRegistries: cfg.InsecureRegistries,
		SandboxInit: machine.SandboxInitBeside(), Logf: logf}
}
