package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// ErrClosed is returned by a Client's methods after Close.
var ErrClosed = errors.New("remote: client closed")

// ClientOptions configures DialWith.
type ClientOptions struct {
	// Timeout bounds each request but journals and the change stream;
	// default 30 s.
	Timeout time.Duration
	// FenceAfter is the threshold the server is asked to fence after when
	// this client falls silent (every keepalive carries it): fleetd sends
	// its ttl.Timing.ManagerFence. 0 leaves the server's own
	// (ServerOptions.FenceAfter). A server that cannot honour it refuses
	// the first keepalive, so Dial fails.
	FenceAfter time.Duration
	Logf       func(format string, args ...any) // connection events; default: discard
}

// Client is a unitmgr.Manager whose units live in the server's process.
type Client struct {
	path  string
	opts  ClientOptions
	hc    *http.Client
	hello []byte // the keepalive's body; nil without FenceAfter

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	changes *unitmgr.Changes // names for Changes, coalesced

	mu    sync.Mutex
	known map[string]bool // every unit this client has heard of
}

var _ unitmgr.Manager = (*Client)(nil)

// Dial connects to the server at path (waiting for it to appear until ctx
// is done) and starts the keepalives and the change stream.
func Dial(ctx context.Context, path string) (*Client, error) {
	return DialWith(ctx, path, ClientOptions{})
}

// DialWith is Dial with options.
func DialWith(ctx context.Context, path string, opts ClientOptions) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 32,
		DisableCompression:  true,
	}
	c := &Client{path: path, opts: opts, hc: &http.Client{Transport: tr}, known: map[string]bool{}}
	if opts.FenceAfter > 0 {
		c.hello, _ = json.Marshal(aliveRequest{FenceAfterMS: max(opts.FenceAfter.Milliseconds(), 1)})
	}
	if err := c.firstKeepalive(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.changes = unitmgr.NewChanges()
	c.wg.Add(2)
	go c.keepalives()
	go c.follow()
	return c, nil
}

// firstKeepalive waits for the server to answer, retrying while the socket
// is missing or refused (the host may still be starting).
func (c *Client) firstKeepalive(ctx context.Context) error {
	for {
		err := c.keepalive(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Client) keepalive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*KeepaliveEvery)
	defer cancel()
	if c.hello == nil {
		return c.call(ctx, http.MethodPost, "/v1/alive", nil, "", nil)
	}
	return c.call(ctx, http.MethodPost, "/v1/alive", bytes.NewReader(c.hello), "application/json", nil)
}

func (c *Client) keepalives() {
	defer c.wg.Done()
	t := time.NewTicker(KeepaliveEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		err := c.keepalive(c.ctx)
		switch {
		case err != nil && !failing && c.ctx.Err() == nil:
			c.opts.Logf("remote: keepalive to %s: %v (the host fences the units if this lasts)", c.path, err)
			failing = true
		case err == nil && failing:
			c.opts.Logf("remote: unit manager at %s answers again", c.path)
			failing = false
		}
	}
}

// follow keeps the change stream open, reconnecting with backoff; after a
// reconnect it re-announces every unit it knew.
func (c *Client) follow() {
	defer c.wg.Done()
	backoff := 100 * time.Millisecond
	for first := true; c.ctx.Err() == nil; first = false {
		opened, err := c.stream(!first)
		if c.ctx.Err() != nil {
			return
		}
		if opened {
			backoff = 100 * time.Millisecond
		}
		c.opts.Logf("remote: change stream from %s: %v; reconnecting in %s", c.path, err, backoff)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// stream reads one change stream until it ends; opened reports whether it
// got as far as a 200.
func (c *Client) stream(reconnect bool) (opened bool, err error) {
	resp, err := c.do(c.ctx, http.MethodGet, "/v1/changes", nil, "")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, decodeError(resp)
	}
	if reconnect {
		c.mu.Lock()
		for name := range c.known {
			c.changes.Notify(name)
		}
		c.mu.Unlock()
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		var ch change
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil || ch.Unit == "" {
			return true, fmt.Errorf("bad change line %q", sc.Bytes())
		}
		c.remember(ch.Unit)
		c.changes.Notify(ch.Unit)
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	return true, io.EOF
}

func (c *Client) remember(name string) {
	c.mu.Lock()
	c.known[name] = true
	c.mu.Unlock()
}

// Close stops the keepalives and the change stream and closes Changes.
// It does not stop any unit: they belong to the server's host, which
// fences them if no client comes back within its FenceAfter.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.changes.Close()
		c.hc.CloseIdleConnections()
	})
	return nil
}

// Load sends the unit file as text.
func (c *Client) Load(name string, f *unit.File) error {
	ctx, cancel := c.reqContext()
	defer cancel()
	err := c.call(ctx, http.MethodPut, unitPath(name, ""), bytes.NewBufferString(f.String()), "text/plain; charset=utf-8", nil)
	if err == nil {
		c.remember(name)
	}
	return err
}

// Start starts a loaded unit; a no-op for an active one.
func (c *Client) Start(name string) error { return c.action(http.MethodPost, unitPath(name, "/start")) }

// Stop begins stopping a unit; a no-op for an inactive one.
func (c *Client) Stop(name string) error { return c.action(http.MethodPost, unitPath(name, "/stop")) }

// Unload stops the unit if needed and forgets it.
func (c *Client) Unload(name string) error {
	return c.action(http.MethodDelete, unitPath(name, ""))
}

func (c *Client) action(method, path string) error {
	ctx, cancel := c.reqContext()
	defer cancel()
	return c.call(ctx, method, path, nil, "", nil)
}

// State reports one unit. When the server cannot be reached the unit is
// reported failed with the reason, not as gone.
func (c *Client) State(name string) (unit.State, bool) {
	ctx, cancel := c.reqContext()
	defer cancel()
	var st unit.State
	err := c.call(ctx, http.MethodGet, unitPath(name, ""), nil, "", &st)
	switch {
	case err == nil:
		return st, true
	case errors.Is(err, unitmgr.ErrNotLoaded):
		return unit.State{}, false
	default:
		return unit.State{Load: unit.LoadError, Active: unit.ActiveFailed, Sub: "failed", Reason: err.Error(), Since: time.Now()}, true
	}
}

// Units lists the server's loaded units; nil when it cannot be reached.
func (c *Client) Units() []string {
	ctx, cancel := c.reqContext()
	defer cancel()
	var l unitList
	if err := c.call(ctx, http.MethodGet, "/v1/units", nil, "", &l); err != nil {
		c.opts.Logf("remote: list units: %v", err)
		return nil
	}
	return l.Units
}

// Changes delivers names of units whose state changed, coalesced; it is
// closed by Close.
func (c *Client) Changes() <-chan string { return c.changes.C() }

// Fence asks the server to kill every unit now and waits for its answer.
func (c *Client) Fence(deadline time.Time) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithDeadline(c.ctx, deadline.Add(5*time.Second))
	defer cancel()
	b, _ := json.Marshal(fenceRequest{Deadline: deadline})
	return c.call(ctx, http.MethodPost, "/v1/fence", bytes.NewReader(b), "application/json", nil)
}

// Freeze asks the server to freeze every unit (Manager.Freeze).
func (c *Client) Freeze() error { return c.post("/v1/freeze") }

// Thaw asks the server to thaw every unit (Manager.Thaw).
func (c *Client) Thaw() error { return c.post("/v1/thaw") }

func (c *Client) post(path string) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.call(ctx, http.MethodPost, path, nil, "", nil)
}

// Journal copies the unit's log to w; with follow it streams until ctx is done.
func (c *Client) Journal(ctx context.Context, name string, lines int, follow bool, w io.Writer) error {
	q := url.Values{"lines": {strconv.Itoa(lines)}}
	if follow {
		q.Set("follow", "1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // Close ends a followed journal
	defer stop()
	resp, err := c.do(ctx, http.MethodGet, unitPath(name, "/journal")+"?"+q.Encode(), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func unitPath(name, suffix string) string { return "/v1/units/" + url.PathEscape(name) + suffix }

func (c *Client) reqContext() (context.Context, context.CancelFunc) {
	if c.ctx == nil { // during Dial
		return context.WithTimeout(context.Background(), c.opts.Timeout)
	}
	return context.WithTimeout(c.ctx, c.opts.Timeout)
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://unit-manager"+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if c.ctx != nil && c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("remote: unit manager at %s: %w", c.path, err)
	}
	return resp, nil
}

// call does one request and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	resp, err := c.do(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("remote: unit manager at %s: %s %s: bad answer: %w", c.path, method, path, err)
	}
	return nil
}

// decodeError turns an error answer back into the manager's error:
// unitmgr.ErrNotLoaded itself, or the server's message.
func decodeError(resp *http.Response) error {
	var e errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return fmt.Errorf("remote: unit manager answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if e.Code == codeNotLoaded {
		return unitmgr.ErrNotLoaded
	}
	return errors.New(e.Error)
}
