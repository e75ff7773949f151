package etcdnode

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/flotilla-os/flotilla/internal/connlimit"
	"github.com/flotilla-os/flotilla/internal/etcdclient"
)

// Config chooses member or client mode. A node is a member when PeerURL is set.
type Config struct {
	Name           string
	DataDir        string         // member data lives in DataDir/etcd
	PeerURL        string         // listen+advertise peer URL (member mode)
	ClientURL      string         // listen+advertise client URL (member mode)
	InitialCluster string         // n1=http://..,n2=.. ; defaults to Name=PeerURL
	ClusterState   string         // "new" (default) or "existing"
	Endpoints      []string       // client mode: existing members' client URLs
	TLS            etcdclient.TLS // peer and client traffic
	ReadyTimeout   time.Duration  // how long to wait for the member to serve; default 60s
	// ElectionTimeout and HeartbeatInterval are raft's timings in member
	// mode (etcd's --election-timeout and --heartbeat-interval, whole
	// milliseconds); zero keeps etcd's defaults of 1 s and 100 ms.
	ElectionTimeout, HeartbeatInterval time.Duration
}

// Node is a running etcd member or client.
type Node struct {
	Client *clientv3.Client
	etcd   *embed.Etcd
	level  zap.AtomicLevel // etcd's log level: errors while running, silent while closing
	closed sync.Once
}

// Start starts an embedded member (cfg.PeerURL set) or connects to
// cfg.Endpoints, and returns once the client can talk to the cluster.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.TLS.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkSchemes(); err != nil {
		return nil, err
	}
	n := &Node{level: zap.NewAtomicLevelAt(zap.ErrorLevel)}
	endpoints := cfg.Endpoints
	if cfg.PeerURL != "" {
		e, err := startMember(cfg, n.level)
		if err != nil {
			return nil, err
		}
		n.etcd = e
		endpoints = []string{cfg.ClientURL}
	}
	if len(endpoints) == 0 {
		return nil, errors.New("etcdnode: no etcd endpoints: give --etcd-peer-url/--etcd-client-url to run a member, or --etcd-endpoints to join as a client")
	}
	cli, err := etcdclient.New(etcdclient.Config{Endpoints: endpoints, TLS: cfg.TLS,
		KeepAliveTime: 2 * time.Second, KeepAliveTimeout: 2 * time.Second})
	if err != nil {
		n.Close()
		return nil, err
	}
	n.Client = cli
	return n, nil
}

// Err reports a fatal error of the embedded member; nil channel in client mode.
func (n *Node) Err() <-chan error {
	if n.etcd == nil {
		return nil
	}
	return n.etcd.Err()
}

// Close closes the client and stops the member; later calls do nothing.
func (n *Node) Close() { n.closed.Do(n.close) }

func (n *Node) close() {
	if n.Client != nil {
		_ = n.Client.Close()
	}
	if n.etcd != nil {
		// Closing makes etcd's listeners report "use of closed network
		// connection" as errors: they are expected, so keep them quiet.
		n.level.SetLevel(zap.FatalLevel)
		n.etcd.Close()
	}
}

func startMember(cfg Config, level zap.AtomicLevel) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir + "/etcd"
	peer, err := parseURL("--etcd-peer-url", cfg.PeerURL)
	if err != nil {
		return nil, err
	}
	client, err := parseURL("--etcd-client-url", cfg.ClientURL)
	if err != nil {
		return nil, err
	}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.InitialCluster = cfg.InitialCluster
	if ec.InitialCluster == "" {
		ec.InitialCluster = cfg.Name + "=" + cfg.PeerURL
	}
	ec.InitialClusterToken = "flotilla"
	ec.ClusterState = embed.ClusterStateFlagNew
	if cfg.ClusterState == "existing" {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	// Keep the key space small: history older than an hour is compacted.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	ec.MaxTxnOps = 1024
	if cfg.ElectionTimeout > 0 {
		ec.ElectionMs = uint(cfg.ElectionTimeout.Milliseconds())
	}
	if cfg.HeartbeatInterval > 0 {
		ec.TickMs = uint(cfg.HeartbeatInterval.Milliseconds())
	}
	ec.MaxRequestBytes = 8 << 20
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Sampling = nil
	logger, err := zc.Build()
	if err != nil {
		return nil, err
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger.Named("etcd"))
	if cfg.TLS.Enabled() {
		ti := transport.TLSInfo{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, TrustedCAFile: cfg.TLS.CAFile, ClientCertAuth: true}
		ec.PeerTLSInfo, ec.ClientTLSInfo = ti, ti
	}
	// etcd caps its client connections from the soft descriptor limit
	// it sees now: half of ours, so a flood of its client port leaves
	// room for its WAL and everything else.
	var e *embed.Etcd
	err = connlimit.WithSoftFDLimit(connlimit.EtcdClientShare(connlimit.SoftFDLimit()), func() (err error) {
		e, err = embed.StartEtcd(ec)
		return err
	})
	if err != nil {
		level.SetLevel(zap.FatalLevel)
		return nil, fmt.Errorf("etcdnode: start member %s (data %s): %w", cfg.Name, ec.Dir, err)
	}
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdnode: member %s: %w", cfg.Name, err)
	case <-time.After(timeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("etcdnode: member %s not ready after %s: are the other members of %q up?", cfg.Name, timeout, ec.InitialCluster)
	}
}

// checkSchemes refuses URLs that disagree with the TLS given: embed would
// serve an http:// URL in plaintext, ignoring the TLS files with only a
// warning (issue 17: a cluster configured for TLS accepted unauthenticated
// writes), and an https:// URL without files fails later and obscurely.
func (c Config) checkSchemes() error {
	check := func(flag, s string) error {
		switch {
		case c.TLS.Enabled() && strings.HasPrefix(s, "http://"):
			return fmt.Errorf("etcdnode: %s %s is plaintext while --tls-* is given: etcd would serve it without TLS; use https://", flag, s)
		case !c.TLS.Enabled() && strings.HasPrefix(s, "https://"):
			return fmt.Errorf("etcdnode: %s %s: https needs --tls-cert, --tls-key and --tls-ca", flag, s)
		}
		return nil
	}
	urls := [][2]string{{"--etcd-peer-url", c.PeerURL}, {"--etcd-client-url", c.ClientURL}}
	for _, e := range c.Endpoints {
		urls = append(urls, [2]string{"--etcd-endpoints", e})
	}
	if c.InitialCluster != "" {
		for _, pair := range strings.Split(c.InitialCluster, ",") {
			_, u, _ := strings.Cut(pair, "=")
			urls = append(urls, [2]string{"--etcd-initial-cluster", u})
		}
	}
	for _, u := range urls {
		if err := check(u[0], u[1]); err != nil {
			return err
		}
	}
	return nil
}

func parseURL(flag, s string) (url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return url.URL{}, fmt.Errorf("etcdnode: %s %q: want http(s)://host:port", flag, s)
	}
	return *u, nil
}
