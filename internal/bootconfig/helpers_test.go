package bootconfig

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flotilla-os/flotilla/internal/pki"
)

// bundle is real PEM material made by internal/pki: a CA with a node
// certificate, and a second CA whose node certificate does not chain to the
// first.
type bundle struct {
	CA, Cert, Key       string
	OtherCert, OtherKey string // signed by another CA
	OtherCA             string
}

var (
	bundleOnce sync.Once
	theBundle  bundle
	bundleErr  error
)

func testBundle(t testing.TB) bundle {
	t.Helper()
	bundleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bootconfig-pki-")
		if err != nil {
			bundleErr = err
			return
		}
		defer os.RemoveAll(dir)
		read := func(p string) string {
			b, err := os.ReadFile(p)
			if err != nil && bundleErr == nil {
				bundleErr = err
			}
			return string(b)
		}
		for i, sub := range []string{"a", "b"} {
			d := filepath.Join(dir, sub)
			if bundleErr = os.Mkdir(d, 0o700); bundleErr != nil {
				return
			}
			ca, err := pki.NewCA(d, "test-ca-"+sub)
			if err != nil {
				bundleErr = err
				return
			}
			pair, err := ca.Issue(d, "n1", []net.IP{net.ParseIP("10.77.0.1")}, nil)
			if err != nil {
				bundleErr = err
				return
			}
			if i == 0 {
				theBundle.CA, theBundle.Cert, theBundle.Key = read(ca.CertFile), read(pair.CertFile), read(pair.KeyFile)
			} else {
				theBundle.OtherCA, theBundle.OtherCert, theBundle.OtherKey = read(ca.CertFile), read(pair.CertFile), read(pair.KeyFile)
			}
		}
	})
	if bundleErr != nil {
		t.Fatalf("making test certificates: %v", bundleErr)
	}
	return theBundle
}

// jsonDoc marshals v for a table case.
func jsonDoc(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
