package etcdnode

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
)

// OnLeaderDeath calls died with the name of the member that was raft's
// leader each time the embedded member sees another take over while that
// one's process is gone: every peer URL of it refuses connections. A
// leader that lost the election but lives (paused, partitioned, or slow)
// is not reported: its port accepts, or does not answer. It returns at
// once; the watch ends with ctx. A client-mode node reports nothing.
func (n *Node) OnLeaderDeath(ctx context.Context, died func(name string)) {
	if n.etcd == nil {
		return
	}
	s := n.etcd.Server
	go func() {
		prev := s.Lead()
		for {
			changed := s.LeaderChangedNotify()
			if cur := s.Lead(); cur != prev && cur != 0 {
				old := prev
				prev = cur
				if old != 0 && old != uint64(s.MemberID()) {
					if m := s.Cluster().Member(types.ID(old)); m != nil && refused(ctx, m.PeerURLs) {
						died(m.Name)
					}
				}
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
}

// refused reports whether every URL's port refuses a TCP connection: no
// process listens there. A timeout, an unreachable host or an accepted
// connection is not a refusal.
func refused(ctx context.Context, urls []string) bool {
	if len(urls) == 0 {
		return false
	}
	d := net.Dialer{Timeout: time.Second}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return false
		}
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			c.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}
