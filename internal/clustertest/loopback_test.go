package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// etcdPut is the gateway request that, answered, lets its sender write any
// key (a unit placement runs as root).
func etcdPut(etcdURL, key string) string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`POST %s/v3/kv/put {"key":"%s","value":"%s"}`, etcdURL, b64([]byte(key)), b64([]byte("x")))
}

// TestLoopbackIsNotABoundary (issue 17): on a node's own loopback, a local
// user (nobody), a Network=host container and a page using DNS rebinding
// are refused by the API (socket and TCP) and by etcd's client and peer
// ports. A root client holding the cluster's certificate, the control,
// gets in.
func TestLoopbackIsNotABoundary(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	c := New(t, 1, 0)
	n := c.Nodes[0]
	// The socket's directory is world-searchable, as /run/fleetd would be
	// if someone made it so: only the socket's own mode stands guard.
	sockDir, err := os.MkdirTemp("", "flotilla-sock-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	must(t, os.Chmod(sockDir, 0o755))
	sock := filepath.Join(sockDir, "fleetd.sock")
	images := ServeImages(t, "127.0.0.1:0", map[string]v1.Image{"test/busybox:1": BusyboxAll(t)})
	n.Extra = []string{"--api-socket", sock, "--insecure-registry", images}
	c.StartAll()
	api, etcdURL := c.Endpoint(n), c.EtcdURL(n)
	peerURL := fmt.Sprintf("https://127.0.0.1:%d", n.PeerPort)
	cert := c.TLS.Client.CertFile + "," + c.TLS.Client.KeyFile

	t.Run("local user", func(t *testing.T) {
		p := newProber(t)
		if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("API socket %s: mode %v (%v), want 0600", sock, st.Mode(), err)
		}
		p.refused("API socket", "GET unix://"+sock, "permission denied")
		p.open("API socket", "GET unix://"+sock, "")
		p.refused("TCP API without a certificate", "GET "+api+"/fleet/v1/machines", "certificate required")
		p.refused("TCP API in plaintext", "GET "+strings.Replace(api, "https", "http", 1)+"/fleet/v1/machines")
		p.open("TCP API", "GET "+api+"/fleet/v1/machines", cert)
		p.refused("etcd client port without a certificate", etcdPut(etcdURL, "/flotilla/probe"), "certificate required")
		p.refused("etcd client port in plaintext", etcdPut(strings.Replace(etcdURL, "https", "http", 1), "/flotilla/probe"))
		p.open("etcd client port", etcdPut(etcdURL, "/flotilla/probe-control"), cert)
		p.refused("etcd peer port without a certificate", "GET "+peerURL+"/members", "certificate required")
		p.refused("etcd peer port in plaintext", "GET "+strings.Replace(peerURL, "https", "http", 1)+"/members")
		p.open("etcd peer port", "GET "+peerURL+"/members", c.TLS.Node.CertFile+","+c.TLS.Node.KeyFile)
		noProbeKey(t, c)
	})

	t.Run("DNS rebinding", func(t *testing.T) {
		// The page's own name, rebound to 127.0.0.1, is its Host header;
		// assume even that the browser holds the fleetctl certificate.
		hc := certClient(t, c)
		for host, want := range map[string]int{"evil.example.net": http.StatusMisdirectedRequest, "evil.example.net:" + fmt.Sprint(n.APIPort): http.StatusMisdirectedRequest,
			"127.0.0.1:" + fmt.Sprint(n.APIPort): http.StatusOK, "localhost": http.StatusOK, n.Name: http.StatusOK} {
			req, _ := http.NewRequest("GET", api+"/fleet/v1/machines", nil)
			req.Host = host
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("Host %s: %d %s, want %d", host, resp.StatusCode, b, want)
			}
			if want != http.StatusOK && !strings.Contains(string(b), "does not name this machine") {
				t.Errorf("Host %s: the refusal does not say why: %s", host, b)
			}
		}
	})

	t.Run("Network=host container", func(t *testing.T) {
		plainAPI := strings.Replace(api, "https", "http", 1)
		plainEtcd := strings.Replace(etcdURL, "https", "http", 1)
		put := `{"key":"` + base64.StdEncoding.EncodeToString([]byte("/flotilla/probe")) + `","value":"eA=="}`
		try := func(name, cmd string) string {
			return fmt.Sprintf("if %s; then echo OPEN-%s; else echo REFUSED-%s; fi; ", cmd, name, name)
		}
		script := try("api", "wget -q -O- "+plainAPI+"/fleet/v1/machines") +
			try("api-tls", "wget -q -O- --no-check-certificate "+api+"/fleet/v1/machines") +
			try("etcd", "wget -q -O- --post-data '"+put+"' "+plainEtcd+"/v3/kv/put") +
			try("etcd-tls", "wget -q -O- --no-check-certificate --post-data '"+put+"' "+etcdURL+"/v3/kv/put") +
			try("peer", fmt.Sprintf("wget -q -O- http://127.0.0.1:%d/members", n.PeerPort)) +
			"echo probes-done; exec sleep 1000"
		c.WriteUnit("hostnet.service", fmt.Sprintf("[Container]\nImage=%s/test/busybox:1\nNetwork=host\nExec=/bin/sh -c %q\n", images, script))
		c.MustFleetctl("start", "hostnet.service")
		log := waitJournal(t, c, "hostnet.service", "probes-done")
		t.Logf("the container's log:\n%s", log)
		for _, name := range []string{"api", "api-tls", "etcd", "etcd-tls", "peer"} {
			if strings.Contains(log, "OPEN-"+name+"\n") || !strings.Contains(log, "REFUSED-"+name+"\n") {
				t.Errorf("a Network=host container reached %s on loopback", name)
			}
		}
		noProbeKey(t, c)
	})
}

// noProbeKey fails the test if a probe managed to write etcd.
func noProbeKey(t *testing.T, c *Cluster) {
	t.Helper()
	cli, err := c.EtcdClient(c.Nodes[0])
	must(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/flotilla/probe")
	must(t, err)
	if len(resp.Kvs) != 0 {
		t.Errorf("a probe wrote /flotilla/probe = %q into etcd", resp.Kvs[0].Value)
	}
}

// certClient is an HTTPS client with the cluster's fleetctl certificate.
func certClient(t *testing.T, c *Cluster) *http.Client {
	cert, err := tls.LoadX509KeyPair(c.TLS.Client.CertFile, c.TLS.Client.KeyFile)
	must(t, err)
	pem, err := os.ReadFile(c.TLS.CA)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
}

// TestLoneNodeLocalTLS: fleetd's default, a lone member given no --tls-*,
// runs etcd over mutual TLS with node-local certificates that only root
// can read: a local user reaches neither etcd port nor the key, and root
// with the key (the updater's way) gets in.
func TestLoneNodeLocalTLS(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	bin, err := Build()
	must(t, err)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ports := FreePorts(t, 2)
	peerURL, etcdURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0]), fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	sock := filepath.Join(dir, "fleetd.sock")
	logf, err := os.Create(filepath.Join(dir, "fleetd.log"))
	must(t, err)
	cmd := exec.Command(bin.Fleetd, "--name", "lone", "--data-dir", data, "--api-socket", sock, "--bridge-subnet", "",
		"--etcd-peer-url", peerURL, "--etcd-client-url", etcdURL)
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("fleetd's log:\n%s", tail(b, 4096))
		}
	})
	cl, err := client.New("unix://"+sock, client.Options{})
	must(t, err)
	if err := testutil.Eventually(60*time.Second, func() error {
		ms, err := cl.Machines(context.Background())
		if err == nil && len(ms) != 1 {
			err = fmt.Errorf("%d machines", len(ms))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(data, "tls")
	key := filepath.Join(tlsDir, "node-key.pem")
	cert := filepath.Join(tlsDir, "node.pem") + "," + key
	p := newProber(t)
	p.refused("etcd client port without a certificate", etcdPut(etcdURL, "/flotilla/probe"), "certificate required")
	p.refused("etcd client port in plaintext", etcdPut(strings.Replace(etcdURL, "https", "http", 1), "/flotilla/probe"))
	p.refused("etcd peer port without a certificate", "GET "+peerURL+"/members", "certificate required")
	p.refused("node-local key", "READ "+key, "permission denied")
	p.open("etcd client port", etcdPut(etcdURL, "/flotilla/probe-control"), cert)
	p.open("etcd peer port", "GET "+peerURL+"/members", cert)
	for path, want := range map[string]os.FileMode{tlsDir: os.ModeDir | 0o700, key: 0o600, filepath.Join(tlsDir, "ca-key.pem"): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, want)
		}
	}
	if _, _, err := net.SplitHostPort(strings.TrimPrefix(etcdURL, "https://")); err != nil {
		t.Fatal(err)
	}
}
