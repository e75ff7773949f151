package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// A CA kept in a directory signs later certificates too, and IssueOnce
// keeps what is already there.
func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "pki"), "test")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.IssueOnce(filepath.Join(dir, "n"), "node", []net.IP{net.ParseIP("10.0.0.1")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(first.CertFile)
	again, err := LoadOrCreateCA(filepath.Join(dir, "pki"), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.IssueOnce(filepath.Join(dir, "n"), "node", nil, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(first.CertFile)
	if !bytes.Equal(before, after) {
		t.Fatal("IssueOnce replaced an existing certificate")
	}
	other, err := again.Issue(filepath.Join(dir, "n"), "other", nil, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(ca.CertFile)
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(other.CertFile, other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "x"}); err != nil {
		t.Fatalf("certificate from the reloaded CA does not verify against the first: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pki", "ca-key.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(filepath.Join(dir, "pki"), "test"); err == nil {
		t.Fatal("a corrupt CA key was accepted")
	}
}
