package rebootlock

import (
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/etcdclient"
)

// Dial opens an etcd client as fleetd's own: the same endpoints (a
// member's client URL, or --etcd-endpoints) and the node's TLS files.
func Dial(endpoints []string, t etcdclient.TLS) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("rebootlock: no etcd endpoint: give the node's etcd client URL")
	}
	cli, err := etcdclient.New(etcdclient.Config{Endpoints: endpoints, TLS: t,
		KeepAliveTime: 10 * time.Second, KeepAliveTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("rebootlock: etcd client: %w", err)
	}
	return cli, nil
}
