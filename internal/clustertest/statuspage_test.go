package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestStatusPageInChromium drives Debian's chromium, headless, through
// the status page of a two-node loopback cluster (an etcd member n1 and
// a client n2). A browser holding the cluster's client certificate is
// awkward to set up, so chromium reaches n1's API listener through a
// test-only plaintext reverse proxy on loopback that presents that
// certificate to fleetd (mutual TLS as fleetctl uses it).
//
// The page lists both machines and a running unit; a unit started
// meanwhile appears without a reload; at a phone's width nothing
// overflows sideways; and the detail page of a unit running on n2 (its
// log proxied from n2 by n1's API) shows its unit file and, without a
// reload, a log line the unit printed after the page was loaded. Markup
// in the unit file and the log shows as text and never runs. n2 serves
// the page on its unix socket, and on TCP not without a certificate.
func TestStatusPageInChromium(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "chromium")
	c := New(t, 1, 1, "role=etcd", "role=worker")
	c.StartAll()
	startSleepers(t, c, "sp", 1)
	page := browserProxy(t, c, c.Nodes[0])

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx = newChromium(t, ctx)

	// The overview: machines and units, with a marker a reload would lose.
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(page+"/")))
	waitText(t, ctx, "#machines", 10*time.Second, "n1", "n2", "role=worker", "leader", "client")
	waitText(t, ctx, "#units", 10*time.Second, "sp-0.service", "active")
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	must(t, err)
	if overflow {
		t.Error("the overview scrolls sideways at a phone's width (390px)")
	}
	setMarker(t, ctx)

	// A unit started meanwhile, pinned to n2, printing a numbered line a second.
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	// Its description and its log lines are markup a browser must show as
	// text, not run: the live fragments go through innerHTML.
	c.WriteUnit("ticker.service", "[Unit]\nDescription="+hostile+"\n\n"+
		"[Service]\nExecStart=/bin/sh -c 'i=0; while :; do echo \"<b>tick-"+token+"-$i</b>"+hostile+"\"; i=$((i+1)); sleep 1; done'\n\n"+
		"[X-Fleet]\nMachineMetadata=role=worker\n")
	c.MustFleetctl("start", "--no-block", "ticker.service")
	waitText(t, ctx, "#units", 30*time.Second, "ticker.service", "n2")
	notReloaded(t, ctx, "the overview")

	// Its page: the unit file, then a line printed after the page loaded.
	must(t, chromedp.Do(ctx, chromedp.Navigate(page+"/ui/units/ticker.service")))
	waitText(t, ctx, "#unit-file", 10*time.Second, "ExecStart=/bin/sh -c", "MachineMetadata=role=worker")
	first := waitText(t, ctx, "#log", 20*time.Second, "<b>tick-"+token+"-")
	last := lastTick(t, first, token)
	setMarker(t, ctx)
	want := fmt.Sprintf("tick-%s-%d</b>", token, last+2)
	waitText(t, ctx, "#log", 20*time.Second, want)
	notReloaded(t, ctx, "the unit's page")
	waitText(t, ctx, "#log", time.Second, "<b>tick-"+token+"-", hostile)
	waitText(t, ctx, "#unit-file", time.Second, "Description="+hostile)
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(window.__xss || document.querySelector("#log b, #log img, #unit-file img"))`))
	must(t, err)
	if injected {
		t.Error("markup from the unit file or its log became elements of the page")
	}
	t.Logf("log tail had tick %d at load and showed %q live", last, strings.TrimSpace(want))
	checkPageAuth(t, c, c.Nodes[1])
}

// checkPageAuth: n serves the page on its root-only unix socket, and on
// TCP only to a client with the cluster's certificate, as the API.
func checkPageAuth(t *testing.T, c *Cluster, n *Node) {
	t.Helper()
	get := func(cl *http.Client, u string) (string, error) {
		resp, err := cl.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), err
	}
	sock := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", n.Socket())
		}}}
	body, err := get(sock, "http://localhost/")
	if err != nil || !strings.Contains(body, "ticker.service") || !strings.Contains(body, "sp-0.service") {
		t.Errorf("GET / on %s's unix socket: %v\n%.2000s", n.Name, err, body)
	}
	ca, err := os.ReadFile(c.TLS.CA)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	bare := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := get(bare, c.Endpoint(n)+"/"); err == nil {
		t.Errorf("GET / on %s's TCP API answered a client without a certificate", n.Name)
	}
	if _, err := get(bare, c.Endpoint(n)+"/ui/units/ticker.service"); err == nil {
		t.Errorf("GET /ui/units/ticker.service on %s's TCP API answered a client without a certificate", n.Name)
	}
}

// hostile is markup that would run if the page did not escape it.
const hostile = `<img src=x onerror=window.__xss=1>`

// browserProxy serves n's API (and so its status page) in plaintext on
// loopback, presenting the cluster's client certificate to fleetd.
func browserProxy(t *testing.T, c *Cluster, n *Node) string {
	t.Helper()
	ca, err := os.ReadFile(c.TLS.CA)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(c.TLS.Client.CertFile, c.TLS.Client.KeyFile)
	must(t, err)
	target, err := url.Parse(c.Endpoint(n))
	must(t, err)
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newChromium starts a headless chromium (as root it needs --no-sandbox)
// that lives as long as ctx and the test.
func newChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	must(t, err)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	must(t, chromedp.Do(bctx)) // start the browser now, so failures name it
	return bctx
}

// waitText polls the text of the element sel until it holds every one of
// wants, and returns it; it fails the test after within.
func waitText(t *testing.T, ctx context.Context, sel string, within time.Duration, wants ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var text string
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		text, err = chromedp.Run(tctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel)))
		cancel()
		missing := ""
		for _, w := range wants {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if err == nil && missing == "" {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s does not show %q (error %v); it shows:\n%s", within, sel, missing, err, text)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// setMarker sets a mark on the page that only a reload would clear.
func setMarker(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__notReloaded = 42`))
	must(t, err)
}

// notReloaded fails unless the marker set on the page survived.
func notReloaded(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__notReloaded || 0`))
	must(t, err)
	if marker != 42 {
		t.Fatalf("%s was reloaded to show the change (marker %d), want a live update", what, marker)
	}
}

// lastTick is the highest tick number in a log tail.
func lastTick(t *testing.T, log, token string) int {
	t.Helper()
	last := -1
	for _, m := range regexp.MustCompile(`tick-`+token+`-(\d+)`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		last = max(last, n)
	}
	if last < 0 {
		t.Fatalf("no tick in the log tail:\n%s", log)
	}
	return last
}
