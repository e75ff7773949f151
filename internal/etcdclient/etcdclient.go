package etcdclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// TLS names the PEM files for mutual TLS; all empty means plaintext.
type TLS struct {
	CertFile, KeyFile, CAFile string
}

// Enabled reports whether any TLS file was given.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" }

// ErrPartialTLS: some TLS files were given but not all three.
var ErrPartialTLS = errors.New("etcdclient: mutual TLS needs all of --tls-cert, --tls-key and --tls-ca")

// Validate refuses a partial set of files.
func (t TLS) Validate() error {
	if t.Enabled() && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
		return ErrPartialTLS
	}
	return nil
}

// Config is how to reach etcd.
type Config struct {
	Endpoints []string
	TLS       TLS
	// KeepAliveTime and KeepAliveTimeout are the gRPC keepalive of the
	// connection (clientv3.Config's DialKeepAlive*).
	KeepAliveTime, KeepAliveTimeout time.Duration
}

// reconnect is how the client dials again after losing its connection.
// gRPC's default backoff grows to 120 s and each attempt may wait 20 s for
// a connect: after a partition of 15 s a healed node waited seconds more
// for its next attempt before it could renew or register again. Attempts
// here come at most 1 s apart and one that hangs (its SYN lost in a cut
// link) is given up after 2 s, so a healed link is used within about 2 s.
// Nothing of this runs while the connection is up.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
}

// New opens a client. The client's own logging is off: errors come back to
// the caller, and its retry chatter would only clutter the logs.
func New(c Config) (*clientv3.Client, error) {
	if len(c.Endpoints) == 0 {
		return nil, errors.New("etcdclient: no etcd endpoint")
	}
	cc := clientv3.Config{
		Endpoints:            c.Endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    c.KeepAliveTime,
		DialKeepAliveTimeout: c.KeepAliveTimeout,
		Logger:               zap.NewNop(),
		DialOptions:          []grpc.DialOption{grpc.WithConnectParams(reconnect)},
	}
	if c.TLS.Enabled() {
		t := c.TLS
		tc, err := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile}.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcdclient: TLS client config (cert %s, key %s, ca %s): %w", t.CertFile, t.KeyFile, t.CAFile, err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcdclient: connect to %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cli, nil
}
