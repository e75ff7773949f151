package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/connlimit"
)

// ListenUnix opens the root-only local socket: the socket file is 0600 and
// a directory we create for it is 0700. A stale socket file is replaced; a
// socket another live process serves is left alone and reported.
func ListenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("api: create socket directory %s: %w", dir, err)
		}
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("api: socket %s is served by another process: %w", path, syscall.EADDRINUSE)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("api: chmod %s: %w", path, err)
	}
	return l, nil
}

// ListenTCP opens the TCP API, which always requires mutual TLS, loopback
// included: every local user and every Network=host container can reach
// loopback. Plaintext is only for the root-only unix socket. The listener
// does the TLS handshakes itself under lim (see internal/connlimit); logf
// reports floods.
func ListenTCP(addr string, tc *tls.Config, lim connlimit.Limits, logf func(string, ...any)) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("api: --api-listen %q: want host:port", addr)
	}
	if tc == nil || tc.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, fmt.Errorf("api: --api-listen %s: the TCP API requires mutual TLS, loopback included (--tls-cert, --tls-key, --tls-ca); locally, use the root-only unix socket", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", addr, err)
	}
	return connlimit.New(l, tc, lim, "API tcp "+addr, logf), nil
}
