package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Listen when another server answers on the socket.
var ErrInUse = errors.New("remote: another unit manager answers on the socket")

// Listen opens the root-only socket at path: its directory is created 0700
// when missing and must not be writable by others; a stale socket is
// removed; the socket is made 0600.
func Listen(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("remote: create socket directory %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("remote: socket directory: %w", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("remote: socket directory %s is writable by group or others (mode %v): make it 0700", dir, st.Mode().Perm())
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// No umask games (process-wide: init creates files concurrently): the
	// window before the chmod is closed by the peer check in Serve.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("remote: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("remote: chmod 0600 %s: %w", path, err)
	}
	return l, nil
}

// removeStale removes a socket nobody answers on, and refuses one that is
// answered or a path that is not a socket.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remote: %w", err)
	}
	if st.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("remote: %s exists and is not a socket (%v): remove it or pick another path", path, st.Mode().Type())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("remote: %s: %w; stop it first", path, ErrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("remote: probe %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remote: remove stale socket %s: %w", path, err)
	}
	return nil
}

// peerUID reads the uid of the process at the other end of a unix socket
// connection; -1 when it cannot be read (then it is no peer of ours).
func peerUID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	uid := -1
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}
