package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/etcdnode"
)

// Etcd starts a one-member embedded etcd on free loopback ports for an
// in-process test; it is closed when the test ends.
func Etcd(t testing.TB) *etcdnode.Node {
	t.Helper()
	ports := FreePorts(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := etcdnode.Start(ctx, etcdnode.Config{Name: "test", DataDir: t.TempDir(),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1])})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	return node
}
