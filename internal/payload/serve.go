package payload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Handler serves the static directory dir (http.FileServer: Range
// requests, If-Modified-Since) and logs each request through logf.
func Handler(dir string, logf func(format string, args ...any)) http.Handler {
	fs := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
		fs.ServeHTTP(rw, r)
		if logf != nil {
			rng := ""
			if v := r.Header.Get("Range"); v != "" {
				rng = " range=" + v
			}
			logf("%s %s %s%s → %d, %d bytes, %s", r.RemoteAddr, r.Method, r.URL.Path, rng, rw.status, rw.n, time.Since(start).Round(time.Millisecond))
		}
	})
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Serve serves dir on listen (host:port) until ctx ends. ready, if set,
// hears the address it listens on (useful with port 0).
func Serve(ctx context.Context, dir, listen string, logf func(format string, args ...any), ready func(addr string)) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("serve: %s is not a directory: give the SERVEDIR that `updater publish --out` wrote", dir)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	srv := &http.Server{Handler: Handler(dir, logf), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
