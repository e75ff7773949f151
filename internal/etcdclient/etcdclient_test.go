package etcdclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		tls  TLS
		want error
	}{
		{TLS{}, nil},
		{TLS{CertFile: "c", KeyFile: "k", CAFile: "ca"}, nil},
		{TLS{CertFile: "c", KeyFile: "k"}, ErrPartialTLS},
		{TLS{CAFile: "ca"}, ErrPartialTLS},
	} {
		if err := tc.tls.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.tls, err, tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no endpoint: nil error")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Endpoints: []string{"https://127.0.0.1:1"}, TLS: TLS{CertFile: bad, KeyFile: bad, CAFile: bad}})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("unreadable TLS files: %v, want an error naming %s", err, bad)
	}
}
