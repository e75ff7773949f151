package bootconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/node"
)

// Where init looks for the document.
const (
	// DefaultFwCfg is QEMU's -fw_cfg name=opt/flotilla/config.json as the
	// qemu_fw_cfg kernel module shows it.
	DefaultFwCfg = "/sys/firmware/qemu_fw_cfg/by_name/opt/flotilla/config.json/raw"
	// ESPPath is the document's path inside the ESP.
	ESPPath = "flotilla/config.json"
	// CmdlineKey is the kernel command-line parameter naming a config URL.
	CmdlineKey = node.KeyConfig
	// FromDefaults is what Load returns as from when no source is present.
	FromDefaults = "built-in defaults"
)

// FetchTimeout bounds one try at fetching a config URL.
const FetchTimeout = 10 * time.Second

// Sources says where Load looks, in this order: URL, FwCfg, ESP.
type Sources struct {
	// URL is flotilla.config= from the kernel command line (see
	// CmdlineURL); "" for none. http and https only.
	URL string
	// FwCfg is the fw_cfg file; "" means DefaultFwCfg.
	FwCfg string
	// ESP is where the ESP is mounted; Load reads ESP/flotilla/config.json.
	// "" skips it.
	ESP string
	// Retry is how hard to try the URL; the zero value is DefaultRetry.
	Retry Retry
	// Client fetches the URL; nil means http.DefaultClient. Each try has its
	// own FetchTimeout either way.
	Client *http.Client
	// Logf, if set, hears about failed tries (init prints them on the console).
	Logf func(format string, args ...any)
}

// Retry is a bounded retry policy for fetching the URL, since the network
// may still be coming up when init asks.
type Retry struct {
	Attempts int           // tries in all; 0 means DefaultRetry's
	Wait     time.Duration // pause between tries; 0 means DefaultRetry's
}

// DefaultRetry tries for about 30 s (plus the time the tries themselves take).
var DefaultRetry = Retry{Attempts: 11, Wait: 3 * time.Second}

// Load reads the first present source, in the order URL, fw_cfg, ESP, and
// parses it. from names the source (the URL without its password,
// "fw_cfg:opt/flotilla/config.json" or "ESP:flotilla/config.json") and
// starts every error message. A URL that cannot be fetched after the retries
// is an error; a file that does not exist is not present. With no source
// present, Load returns an empty Config and FromDefaults.
func Load(ctx context.Context, src Sources) (cfg *Config, from string, err error) {
	if src.URL != "" {
		from = redact(src.URL)
		data, err := src.fetch(ctx)
		if err != nil {
			return nil, from, fmt.Errorf("%s: %w", from, err)
		}
		cfg, err := Parse(data, from)
		return cfg, from, err
	}
	fwcfg := src.FwCfg
	if fwcfg == "" {
		fwcfg = DefaultFwCfg
	}
	files := []struct{ path, from string }{{fwcfg, "fw_cfg:opt/flotilla/config.json"}}
	if src.ESP != "" {
		files = append(files, struct{ path, from string }{filepath.Join(src.ESP, ESPPath), "ESP:" + ESPPath})
	}
	for _, f := range files {
		data, err := readFile(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, f.from, fmt.Errorf("%s: %w", f.from, err)
		}
		cfg, err := Parse(data, f.from)
		return cfg, f.from, err
	}
	return &Config{}, FromDefaults, nil
}

// readFile reads at most MaxSize+1 bytes, enough for Parse to refuse more.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

func (src Sources) fetch(ctx context.Context) ([]byte, error) {
	u, err := url.Parse(src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%s is not an http or https URL with a host (want e.g. %s=http://10.0.2.2:8000/node-1.json)", CmdlineKey, redact(src.URL), CmdlineKey)
	}
	r := src.Retry
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.Wait <= 0 {
		r.Wait = DefaultRetry.Wait
	}
	var last error
	for try := 1; try <= r.Attempts; try++ {
		data, retry, err := src.fetchOnce(ctx)
		if err == nil {
			return data, nil
		}
		last = err
		if !retry || try == r.Attempts {
			break
		}
		if src.Logf != nil {
			src.Logf("bootconfig: fetching %s, try %d of %d: %v; again in %s", redact(src.URL), try, r.Attempts, err, r.Wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch: %w (last try: %v)", ctx.Err(), last)
		case <-time.After(r.Wait):
		}
	}
	return nil, fmt.Errorf("fetch failed: %w", last)
}

// fetchOnce makes one try; retry says whether another might do better.
func (src Sources) fetchOnce(ctx context.Context) (data []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return nil, false, err
	}
	client := src.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, errors.New(strings.ReplaceAll(err.Error(), src.URL, redact(src.URL)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// 5xx, 408 and 429 may pass; other answers will not change.
		transient := resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
		return nil, transient, fmt.Errorf("server answered %s, want 200 OK", resp.Status)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	if err != nil {
		return nil, true, fmt.Errorf("reading the body: %w", err)
	}
	return data, false, nil
}

// redact drops a URL's password so that it never reaches the console.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// CmdlineURL returns the value of flotilla.config= on a kernel command line
// (the contents of /proc/cmdline), or "" when it is absent. The last one
// wins, as with the kernel's own parameters; double quotes are removed
// (node.ParseCmdline; errors in other keys are not this function's).
func CmdlineURL(cmdline string) string {
	c, _ := node.ParseCmdline(cmdline)
	return c.ConfigURL
}
