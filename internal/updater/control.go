package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSocket is the daemon's control socket: HTTP, root only.
const DefaultSocket = "/run/flotilla/updater.sock"

// ServeControl answers GET /status and POST /check on the unix socket path
// (mode 0600; a peer that is not root is refused) until ctx ends.
func ServeControl(ctx context.Context, d *Daemon, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another updater daemon answers on it", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d.Status())
	})
	mux.HandleFunc("POST /check", func(w http.ResponseWriter, r *http.Request) {
		d.CheckNow()
		w.WriteHeader(http.StatusAccepted)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(rootOnly{ln.(*net.UnixListener)})
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// rootOnly accepts connections from uid 0 only (SO_PEERCRED).
type rootOnly struct{ *net.UnixListener }

func (l rootOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(c); err == nil && uid == 0 {
			return c, nil
		}
		c.Close()
	}
}

func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

func controlClient(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// RequestCheck asks the daemon on socket to check now.
func RequestCheck(ctx context.Context, socket string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://updater/check", nil)
	resp, err := controlClient(socket).Do(req)
	if err != nil {
		return fmt.Errorf("updater daemon on %s: %w (is `updater daemon` running? run this as root)", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("updater daemon on %s: %s", socket, resp.Status)
	}
	return nil
}

// FetchStatus asks the daemon on socket for its status.
func FetchStatus(ctx context.Context, socket string) (*Status, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://updater/status", nil)
	resp, err := controlClient(socket).Do(req)
	if err != nil {
		return nil, fmt.Errorf("updater daemon on %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("updater daemon on %s: %s %s", socket, resp.Status, b)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("updater daemon on %s: %w", socket, err)
	}
	return &st, nil
}
