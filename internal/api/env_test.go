package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/api"
	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/etcdnode"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

// etcd is the one embedded member every test in this binary talks to.
// Tests run one after another and each leaves the key space empty.
var etcd *etcdnode.Node

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "api-test-etcd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ports := clustertest.FreePorts(mainTB{}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	etcd, err = etcdnode.Start(ctx, etcdnode.Config{Name: "api-test", DataDir: dir,
		TLS:          clustertest.LoopbackTLS(mainTB{}, dir+"/tls"),
		PeerURL:      fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
		ClientURL:    fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
		ReadyTimeout: 30 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	defer func() {
		etcd.Close()
		for err := range etcd.Err() {
			fmt.Fprintln(os.Stderr, "etcd:", err)
		}
	}()
	return m.Run()
}

// mainTB lets TestMain, which has no testing.TB, call clustertest.FreePorts:
// it only uses Helper and Fatal. Any other method panics on the nil TB.
type mainTB struct{ testing.TB }

func (mainTB) Helper()           {}
func (mainTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// env is one API server (machine "local") over the shared etcd.
type env struct {
	t   *testing.T
	reg *registry.Registry
	mgr *sim.Manager
	srv *httptest.Server
}

const localMachine = "local0000000000000000000000000000"

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, reg: registry.New(etcd.Client), mgr: sim.New()}
	if keys := e.keys(); len(keys) != 0 {
		t.Fatalf("registry not empty at start of test: %v", keys)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := etcd.Client.Delete(ctx, registry.Prefix, clientv3.WithPrefix()); err != nil {
			t.Errorf("clean registry: %v", err)
		}
	})
	e.srv = newServer(t, e.reg, localMachine, e.mgr)
	return e
}

// with returns e reporting to t (a subtest).
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func newServer(t *testing.T, reg *registry.Registry, machine string, mgr *sim.Manager) *httptest.Server {
	srv := httptest.NewServer(api.New(api.Config{Registry: reg, Manager: mgr, MachineID: machine,
		Peer: &http.Client{Timeout: 10 * time.Second}}))
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// keys lists every key under the registry prefix with its mod revision,
// so a test can check a refused request changed nothing.
func (e *env) keys() []string {
	e.t.Helper()
	resp, err := etcd.Client.Get(e.ctx(), registry.Prefix, clientv3.WithPrefix())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, fmt.Sprintf("%s@%d", kv.Key, kv.ModRevision))
	}
	return out
}

// do sends a request to the server and returns the status and body.
func (e *env) do(method, path, body string) (int, string) {
	e.t.Helper()
	return doURL(e.t, method, e.srv.URL+path, body)
}

func doURL(t *testing.T, method, u, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" || method == http.MethodPut {
		req.Header.Set("Content-Type", "application/json") // as our client sends it
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return resp.StatusCode, string(b)
}

// errorMessage decodes an error body and checks its code matches the status.
func errorMessage(t *testing.T, status int, body string) string {
	t.Helper()
	var e schema.Error
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("status %d: body is not a JSON error: %v: %q", status, err, body)
	}
	if e.Error.Code != status {
		t.Errorf("error code %d in body, status %d", e.Error.Code, status)
	}
	return e.Error.Message
}

// put PUTs a unit (options, desired state) and returns status and body.
func (e *env) put(name string, u schema.Unit, query string) (int, string) {
	e.t.Helper()
	b, err := json.Marshal(u)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do(http.MethodPut, unitPath(name)+query, string(b))
}

// mustPut PUTs a unit and fails unless the status is want.
func (e *env) mustPut(name string, u schema.Unit, query string, want int) {
	e.t.Helper()
	if code, body := e.put(name, u, query); code != want {
		e.t.Fatalf("PUT %s%s: status %d, want %d: %s", name, query, code, want, body)
	}
}

func (e *env) getUnit(name string) (*schema.Unit, int) {
	e.t.Helper()
	code, body := e.do(http.MethodGet, unitPath(name), "")
	if code != http.StatusOK {
		return nil, code
	}
	var u schema.Unit
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		e.t.Fatalf("GET %s: %v: %q", name, err, body)
	}
	return &u, code
}

// unitNames lists every unit through the API, following page tokens.
func (e *env) unitNames(pageSize int) (names []string, pages int) {
	e.t.Helper()
	tok := ""
	for {
		q := fmt.Sprintf("?pageSize=%d", pageSize)
		if tok != "" {
			q += "&nextPageToken=" + tok
		}
		code, body := e.do(http.MethodGet, "/fleet/v1/units"+q, "")
		if code != http.StatusOK {
			e.t.Fatalf("list units%s: status %d: %s", q, code, body)
		}
		var p schema.UnitPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			e.t.Fatal(err)
		}
		pages++
		for _, u := range p.Units {
			names = append(names, u.Name)
		}
		if p.NextPageToken == "" {
			return names, pages
		}
		if pages > 1000 {
			e.t.Fatal("page tokens do not end")
		}
		tok = p.NextPageToken
	}
}

// lease grants a lease that is revoked when the test ends.
func (e *env) lease() clientv3.LeaseID {
	e.t.Helper()
	l, err := etcd.Client.Grant(e.ctx(), 60)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = etcd.Client.Revoke(ctx, l.ID)
	})
	return l.ID
}

// always is an engine guard that always holds.
var always = clientv3.Compare(clientv3.CreateRevision("nonexistent"), "=", 0)

func unitPath(name string) string { return "/fleet/v1/units/" + url.PathEscape(name) }

func opts(lines ...string) []unit.Option {
	var out []unit.Option
	for _, l := range lines {
		sec, kv, _ := strings.Cut(l, "|")
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, unit.Option{Section: sec, Name: k, Value: v})
	}
	return out
}

// service is a minimal valid unit file plus extra "Section|Name=Value" lines.
func service(extra ...string) []unit.Option {
	return opts(append([]string{"Service|ExecStart=/bin/sleep 1000"}, extra...)...)
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}
