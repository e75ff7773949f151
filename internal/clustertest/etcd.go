package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/flotilla-os/flotilla/internal/etcdclient"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/pki"
)

// Etcd starts a one-member embedded etcd on free loopback ports for an
// in-process test, with mutual TLS as fleetd runs it; it is closed when
// the test ends.
func Etcd(t testing.TB) *etcdnode.Node {
	n, _ := EtcdTLS(t)
	return n
}

// EtcdTLS is Etcd, also returning the certificate files its client uses,
// for a second client (EtcdConfig).
func EtcdTLS(t testing.TB) (*etcdnode.Node, etcdclient.TLS) {
	t.Helper()
	dir := t.TempDir()
	files := LoopbackTLS(t, filepath.Join(dir, "tls"))
	ports := FreePorts(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	node, err := etcdnode.Start(ctx, etcdnode.Config{Name: "test", DataDir: dir, TLS: files,
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
		ClientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[1])})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	return node, files
}

// LoopbackTLS issues, in dir, a CA and a certificate for 127.0.0.1 and
// localhost, usable as etcd's server and client certificate. It uses only
// t's Helper and Fatal.
func LoopbackTLS(t testing.TB, dir string) etcdclient.TLS {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o700))
	ca, err := pki.NewCA(dir, "flotilla-test-ca")
	must(t, err)
	p, err := ca.Issue(dir, "node", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	must(t, err)
	return etcdclient.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: ca.CertFile}
}

// EtcdConfig is a clientv3 config for endpoints with the certificate files.
func EtcdConfig(t testing.TB, files etcdclient.TLS, endpoints ...string) clientv3.Config {
	t.Helper()
	ti := transport.TLSInfo{CertFile: files.CertFile, KeyFile: files.KeyFile, TrustedCAFile: files.CAFile}
	tc, err := ti.ClientConfig()
	must(t, err)
	return clientv3.Config{Endpoints: endpoints, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
}
