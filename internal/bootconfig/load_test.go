package bootconfig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var fastRetry = Retry{Attempts: 4, Wait: 10 * time.Millisecond}

// sources writes a fw_cfg file and an ESP config naming different hosts,
// leaving either out when its hostname is "".
func sources(t *testing.T, fwHost, espHost string) Sources {
	t.Helper()
	dir := t.TempDir()
	src := Sources{FwCfg: filepath.Join(dir, "fw_cfg", "raw"), ESP: filepath.Join(dir, "esp"), Retry: fastRetry}
	write := func(path, host string) {
		if host == "" {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(`{"hostname": "`+host+`"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(src.FwCfg, fwHost)
	write(filepath.Join(src.ESP, ESPPath), espHost)
	return src
}

// serve answers the i-th request (from 1) with handler(i).
func serve(t *testing.T, handler func(i int64, w http.ResponseWriter)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(n.Add(1), w)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestLoadOrder(t *testing.T) {
	srv, _ := serve(t, func(_ int64, w http.ResponseWriter) { fmt.Fprint(w, `{"hostname": "from-url"}`) })
	for _, c := range []struct {
		name            string
		url, fw, esp    string
		wantHost, wFrom string
	}{
		{"url first", srv.URL + "/n1.json", "from-fwcfg", "from-esp", "from-url", srv.URL + "/n1.json"},
		{"then fw_cfg", "", "from-fwcfg", "from-esp", "from-fwcfg", "fw_cfg:opt/flotilla/config.json"},
		{"then ESP", "", "", "from-esp", "from-esp", "ESP:flotilla/config.json"},
		{"then defaults", "", "", "", "", FromDefaults},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := sources(t, c.fw, c.esp)
			src.URL = c.url
			cfg, from, err := Load(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Hostname != c.wantHost || from != c.wFrom {
				t.Errorf("got hostname %q from %q, want %q from %q", cfg.Hostname, from, c.wantHost, c.wFrom)
			}
		})
	}
}

func TestLoadNoESPDir(t *testing.T) {
	src := sources(t, "", "")
	src.ESP = ""
	cfg, from, err := Load(context.Background(), src)
	if err != nil || from != FromDefaults || cfg == nil || cfg.Hostname != "" {
		t.Fatalf("got %+v, %q, %v", cfg, from, err)
	}
}

func TestLoadBadConfigNamesSourceAndField(t *testing.T) {
	src := sources(t, "", "bad_name")
	_, from, err := Load(context.Background(), src)
	if err == nil || from != "ESP:flotilla/config.json" || !strings.HasPrefix(err.Error(), "ESP:flotilla/config.json: hostname: ") {
		t.Fatalf("got from %q, error %v", from, err)
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	src := sources(t, "", "")
	if err := os.MkdirAll(src.FwCfg, 0o755); err != nil { // a directory: present but unreadable
		t.Fatal(err)
	}
	_, _, err := Load(context.Background(), src)
	if err == nil || !strings.HasPrefix(err.Error(), "fw_cfg:opt/flotilla/config.json: read ") {
		t.Fatalf("want a read error naming fw_cfg, got %v", err)
	}
}

func TestLoadURLRetries(t *testing.T) {
	srv, n := serve(t, func(i int64, w http.ResponseWriter) {
		if i < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"hostname": "n1"}`)
	})
	src := sources(t, "", "")
	src.URL = srv.URL + "/c.json"
	var logged []string
	src.Logf = func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	cfg, _, err := Load(context.Background(), src)
	if err != nil || cfg.Hostname != "n1" {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	if n.Load() != 3 || len(logged) != 2 || !strings.Contains(logged[0], "try 1 of 4: server answered 503") {
		t.Errorf("%d requests, logged %q", n.Load(), logged)
	}
}

func TestLoadURLFails(t *testing.T) {
	srv, n := serve(t, func(_ int64, w http.ResponseWriter) { http.NotFound(w, nil) })
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	big, _ := serve(t, func(_ int64, w http.ResponseWriter) {
		fmt.Fprintf(w, `{"hostname": "%s"}`, strings.Repeat("a", MaxSize))
	})
	for _, c := range []struct {
		name, url, want string
		tries           int64 // of srv
		retries         int
	}{
		{"404 is not retried", srv.URL + "/missing.json", "fetch failed: server answered 404 Not Found", 1, 0},
		{"connection refused, every try", closed.URL + "/c.json", "connection refused", 0, fastRetry.Attempts - 1},
		{"too big", big.URL, "more than the 1048576 allowed", 0, 0},
		{"not http", "tftp://10.0.2.2/c.json", "flotilla.config=tftp://10.0.2.2/c.json is not an http or https URL", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			n.Store(0)
			src := sources(t, "present", "present") // a failing URL does not fall back
			src.URL = c.url
			retries := 0
			src.Logf = func(string, ...any) { retries++ }
			start := time.Now()
			cfg, from, err := Load(context.Background(), src)
			if err == nil || cfg != nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), from+": ") {
				t.Fatalf("got %+v from %q, error %v; want %q", cfg, from, err, c.want)
			}
			if n.Load() != c.tries || retries != c.retries {
				t.Errorf("%d requests and %d retries, want %d and %d", n.Load(), retries, c.tries, c.retries)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s with a fast retry policy", d)
			}
		})
	}
}

func TestLoadURLCancel(t *testing.T) {
	srv, _ := serve(t, func(_ int64, w http.ResponseWriter) { http.Error(w, "down", http.StatusBadGateway) })
	src := Sources{URL: srv.URL, FwCfg: filepath.Join(t.TempDir(), "none"), Retry: Retry{Attempts: 100, Wait: time.Hour}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := Load(ctx, src)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "502") {
		t.Fatalf("want the deadline and the last try's 502, got %v", err)
	}
}

func TestLoadURLRedactsPassword(t *testing.T) {
	srv, _ := serve(t, func(_ int64, w http.ResponseWriter) { fmt.Fprint(w, `{"version": 9}`) })
	src := sources(t, "", "")
	src.URL = strings.Replace(srv.URL, "http://", "http://me:secret@", 1) + "/c.json"
	_, from, err := Load(context.Background(), src)
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(from, "secret") || !strings.Contains(err.Error(), "version: 9") {
		t.Fatalf("from %q, error %v", from, err)
	}
}

func TestCmdlineURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"console=ttyS0 flotilla.slot=A": "",
		"flotilla.config=http://10.0.2.2:8000/c.json quiet": "http://10.0.2.2:8000/c.json",
		`a flotilla.config="http://h/a b.json" b`:           "http://h/a b.json",
		"flotilla.config=http://a flotilla.config=http://b": "http://b",
		"xflotilla.config=http://a":                         "",
		"flotilla.config":                                   "",
	} {
		if got := CmdlineURL(in); got != want {
			t.Errorf("CmdlineURL(%q) = %q, want %q", in, got, want)
		}
	}
}
