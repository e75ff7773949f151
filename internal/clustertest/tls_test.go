package clustertest

import (
	osexec "os/exec"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestMutualTLS: members speak mutual TLS on etcd peer and client traffic
// and on the API; fleetctl with the cluster's certificate works, one without
// a certificate or with a foreign one is refused.
func TestMutualTLS(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 1)
	c.StartAll()
	c.WriteUnit("tls.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	c.MustFleetctl("start", "tls.service")
	out := c.MustFleetctl("list-units", "--no-legend")
	if !strings.Contains(out, "tls.service") || !strings.Contains(out, "active") {
		t.Errorf("list-units over mutual TLS:\n%s", out)
	}
	ep := c.Endpoint(c.Nodes[0])
	for name, args := range map[string][]string{
		"no certificate":   {"--endpoint", ep, "--ca-file", c.TLS.CA, "list-machines"},
		"foreign cert":     {"--endpoint", ep, "--ca-file", c.TLS.CA, "--cert-file", c.TLS.NotTrusted.CertFile, "--key-file", c.TLS.NotTrusted.KeyFile, "list-machines"},
		"plaintext client": {"--endpoint", strings.Replace(ep, "https", "http", 1), "list-machines"},
	} {
		cmd := osexec.Command(c.Bin.Fleetctl, args...)
		if err := cmd.Run(); err == nil {
			t.Errorf("%s: fleetctl succeeded against a mutual-TLS API", name)
		}
	}
}
