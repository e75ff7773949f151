package etcdnode

import (
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/etcdclient"
)

// TestCheckSchemes: embed serves an http:// URL in plaintext even when TLS
// files are given (issue 17), so a URL whose scheme disagrees with the TLS
// given is refused before etcd starts, naming the flag.
func TestCheckSchemes(t *testing.T) {
	files := etcdclient.TLS{CertFile: "c", KeyFile: "k", CAFile: "ca"}
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"http client url with TLS", Config{TLS: files, PeerURL: "https://10.99.0.1:12380", ClientURL: "http://10.99.0.1:12379"}, "--etcd-client-url http://10.99.0.1:12379 is plaintext while --tls-* is given"},
		{"http peer in initial cluster with TLS", Config{TLS: files, PeerURL: "https://a:1", ClientURL: "https://a:2", InitialCluster: "a=https://a:1,b=http://b:1"}, "--etcd-initial-cluster http://b:1 is plaintext"},
		{"http endpoint with TLS", Config{TLS: files, Endpoints: []string{"http://a:2379"}}, "--etcd-endpoints http://a:2379 is plaintext"},
		{"https without TLS", Config{PeerURL: "https://a:1", ClientURL: "https://a:2"}, "--etcd-peer-url https://a:1: https needs --tls-cert"},
		{"https with TLS", Config{TLS: files, PeerURL: "https://a:1", ClientURL: "https://a:2", Endpoints: []string{"https://b:2"}}, ""},
	} {
		err := tc.cfg.checkSchemes()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}
