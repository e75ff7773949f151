package fleetd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/flotilla-os/flotilla/internal/etcdclient"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/pki"
)

// tlsConfigs builds the TCP API's server config (client certificates
// required) and the client config fleetd uses to reach peers' APIs.
func tlsConfigs(t etcdclient.TLS) (server, client *tls.Config, err error) {
	if !t.Enabled() {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetd: --tls-cert %s / --tls-key %s: %w", t.CertFile, t.KeyFile, err)
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetd: --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("fleetd: --tls-ca %s holds no PEM certificate", t.CAFile)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}

// nodeLocalTLS makes (or reuses) a CA and a certificate for this node in
// dir, for a lone member run without --tls-*: etcd then serves mutual TLS
// on them and only root, who can read the keys, can talk to it. The
// directory is 0700 and the keys 0600. A certificate that no longer
// covers the hosts of the etcd URLs is issued again.
func nodeLocalTLS(dir, name string, ec etcdnode.Config) (etcdclient.TLS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return etcdclient.TLS{}, fmt.Errorf("fleetd: node-local TLS: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return etcdclient.TLS{}, fmt.Errorf("fleetd: node-local TLS: %w", err)
	}
	ca, err := pki.LoadOrCreateCA(dir, "fleetd node-local CA "+name)
	if err != nil {
		return etcdclient.TLS{}, fmt.Errorf("fleetd: node-local TLS in %s: %w", dir, err)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	dns := []string{"localhost"}
	for _, s := range []string{ec.PeerURL, ec.ClientURL} {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			ips = append(ips, ip)
		} else if u.Hostname() != "" {
			dns = append(dns, u.Hostname())
		}
	}
	p, err := ca.IssueOnce(dir, "node", ips, dns)
	if err != nil {
		return etcdclient.TLS{}, fmt.Errorf("fleetd: node-local TLS in %s: %w", dir, err)
	}
	if !covers(p.CertFile, ips, dns) {
		if p, err = ca.Issue(dir, "node", ips, dns); err != nil {
			return etcdclient.TLS{}, fmt.Errorf("fleetd: node-local TLS in %s: %w", dir, err)
		}
	}
	return etcdclient.TLS{CertFile: p.CertFile, KeyFile: p.KeyFile, CAFile: ca.CertFile}, nil
}

// covers reports whether the certificate in file is valid for every ip
// and name.
func covers(file string, ips []net.IP, dns []string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return false
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if cert.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	for _, n := range dns {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// certNames are the DNS names of the certificate the TCP API serves.
func certNames(tc *tls.Config) []string {
	if tc == nil || len(tc.Certificates) == 0 || len(tc.Certificates[0].Certificate) == 0 {
		return nil
	}
	cert, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil {
		return nil
	}
	return cert.DNSNames
}
