package fleetd

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/etcdnode"
)

// TestParseFlagsRefusesPlaintextEtcd: every plaintext etcd URL is refused,
// loopback included, naming the flag and what to do; https needs
// certificates, which only a lone member gets without --tls-*.
func TestParseFlagsRefusesPlaintextEtcd(t *testing.T) {
	tlsFlags := []string{"--tls-cert", "/c.pem", "--tls-key", "/k.pem", "--tls-ca", "/ca.pem"}
	member := func(peer, client string, extra ...string) []string {
		return append([]string{"--name", "n1", "--etcd-peer-url", peer, "--etcd-client-url", client}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		err  string // "" for accepted
	}{
		// The attack of issue 17: TLS files given, etcd URLs http.
		{"http client url with TLS", member("https://10.99.0.1:12380", "http://10.99.0.1:12379", tlsFlags...),
			"--etcd-client-url http://10.99.0.1:12379: plaintext etcd is refused"},
		{"http peer url with TLS", member("http://10.99.0.1:12380", "https://10.99.0.1:12379", tlsFlags...),
			"--etcd-peer-url http://10.99.0.1:12380: plaintext etcd is refused"},
		{"http off loopback without TLS", member("http://10.99.0.1:12380", "http://10.99.0.1:12379"),
			"--etcd-peer-url http://10.99.0.1:12380: plaintext etcd is refused, loopback included"},
		{"http on loopback", member("http://127.0.0.1:2380", "http://127.0.0.1:2379"),
			"--etcd-peer-url http://127.0.0.1:2380: plaintext etcd is refused, loopback included"},
		{"http endpoint", append([]string{"--etcd-endpoints", "https://10.0.0.1:2379,http://10.0.0.2:2379"}, tlsFlags...),
			"--etcd-endpoints http://10.0.0.2:2379: plaintext etcd is refused"},
		{"http in initial cluster", member("https://10.0.0.1:2380", "https://10.0.0.1:2379", append([]string{"--etcd-initial-cluster", "n1=https://10.0.0.1:2380,n2=http://10.0.0.2:2380"}, tlsFlags...)...),
			"--etcd-initial-cluster http://10.0.0.2:2380: plaintext etcd is refused"},
		{"client without TLS", []string{"--etcd-endpoints", "https://10.0.0.1:2379"},
			"--etcd-endpoints https://10.0.0.1:2379: a client-only node needs --tls-cert, --tls-key and --tls-ca"},
		{"several members without TLS", member("https://10.0.0.1:2380", "https://10.0.0.1:2379", "--etcd-initial-cluster", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380"),
			"a cluster of several members needs --tls-cert, --tls-key and --tls-ca"},
		{"partial TLS", member("https://10.0.0.1:2380", "https://10.0.0.1:2379", "--tls-cert", "/c.pem"),
			"mutual TLS needs all of --tls-cert, --tls-key and --tls-ca"},
		{"api on loopback without TLS", []string{"--name", "n1", "--api-listen", "127.0.0.1:7700"},
			"--api-listen 127.0.0.1:7700: the TCP API requires mutual TLS, loopback included"},
		{"dev api without TLS", []string{"--dev", "--api-listen", "127.0.0.1:7700"},
			"--api-listen 127.0.0.1:7700: the TCP API requires mutual TLS"},
		{"not a url", member("https://10.0.0.1", "https://10.0.0.1:2379", tlsFlags...),
			`--etcd-peer-url "https://10.0.0.1": want https://host:port`},

		{"lone default", []string{"--name", "n1"}, ""},
		{"lone https without TLS", member("https://127.0.0.1:2380", "https://127.0.0.1:2379"), ""},
		{"lone https naming itself", member("https://127.0.0.1:2380", "https://127.0.0.1:2379", "--etcd-initial-cluster", "n1=https://127.0.0.1:2380"), ""},
		{"members with TLS", member("https://10.0.0.1:2380", "https://10.0.0.1:2379", append([]string{"--etcd-initial-cluster", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380", "--api-listen", "0.0.0.0:7700"}, tlsFlags...)...), ""},
		{"client with TLS", append([]string{"--etcd-endpoints", "https://10.0.0.1:2379"}, tlsFlags...), ""},
		{"dev", []string{"--dev"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseFlags(tc.args, new(strings.Builder))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("ParseFlags(%q): %v", tc.args, err)
				}
				for _, u := range append([]string{c.Etcd.PeerURL, c.Etcd.ClientURL}, c.Etcd.Endpoints...) {
					if u != "" && !strings.HasPrefix(u, "https://") {
						t.Errorf("accepted etcd URL %s", u)
					}
				}
				if !c.TLS.Enabled() && !c.LocalTLS {
					t.Errorf("accepted %q with neither --tls-* nor node-local TLS", tc.args)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseFlags(%q) = %v, want an error with %q", tc.args, err, tc.err)
			}
		})
	}
}

// TestDevDataDirMadeByRun: ParseFlags --dev makes no directory (the
// lifeline's outer process parses the flags too, then exits).
func TestDevDataDirMadeByRun(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	c, err := ParseFlags([]string{"--dev"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 0 || c.DataDir != "" {
		t.Errorf("ParseFlags --dev made %v (DataDir %q): that directory leaks from the outer process", ents, c.DataDir)
	}
}

// TestNodeLocalTLS: the node-local CA and certificate are private to root,
// verify each other for the etcd hosts, and are reused across restarts.
func TestNodeLocalTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	ec := etcdnode.Config{PeerURL: "https://127.0.0.1:2380", ClientURL: "https://10.1.2.3:2379"}
	first, err := nodeLocalTLS(dir, "n1", ec)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, first.KeyFile: 0o600, filepath.Join(dir, "ca-key.pem"): 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, want)
		}
	}
	cert := load(t, first.CertFile)
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(first.CAFile)
	pool.AppendCertsFromPEM(ca)
	for _, h := range []string{"127.0.0.1", "10.1.2.3", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("node cert for %s: %v", h, err)
		}
	}
	again, err := nodeLocalTLS(dir, "n1", ec)
	if err != nil {
		t.Fatal(err)
	}
	if again != first || !load(t, again.CertFile).Equal(cert) {
		t.Errorf("restart issued a new certificate: %+v, was %+v", again, first)
	}
	// A new address: the certificate is issued again, by the same CA.
	ec.ClientURL = "https://10.9.9.9:2379"
	moved, err := nodeLocalTLS(dir, "n1", ec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, moved.CertFile).Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.9.9.9", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("after moving to 10.9.9.9: %v", err)
	}
}

func load(t *testing.T, certFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
