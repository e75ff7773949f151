package rebootlock

import (
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/flotilla-os/flotilla/internal/etcdnode"
)

// Dial opens an etcd client as fleetd's own: the same endpoints (a
// member's client URL, or --etcd-endpoints) and the node's TLS files.
func Dial(endpoints []string, t etcdnode.TLS) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("rebootlock: no etcd endpoint: give the node's etcd client URL")
	}
	cc := clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second,
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 5 * time.Second,
		// Errors come back to the caller; the client's own retry chatter
		// would only clutter the updater's log.
		Logger: zap.NewNop()}
	if t.Enabled() {
		tc, err := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile}.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("rebootlock: etcd TLS client config (cert %s, key %s, ca %s): %w", t.CertFile, t.KeyFile, t.CAFile, err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("rebootlock: etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}
