package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTracker follows Podman's semantics: retries, start period, reset.
func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		pass    bool
		after   time.Duration // since start
		verdict string
		changed bool
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"pass at once", Config{Retries: 3}, []step{{true, 0, Healthy, true}, {true, time.Second, Healthy, false}}},
		{"three failures", Config{Retries: 3}, []step{
			{false, 0, Starting, false}, {false, 1 * time.Second, Starting, false}, {false, 2 * time.Second, Unhealthy, true},
			{false, 3 * time.Second, Unhealthy, false}, {true, 4 * time.Second, Healthy, true}}},
		{"a pass resets the streak", Config{Retries: 2}, []step{
			{true, 0, Healthy, true}, {false, time.Second, Healthy, false}, {true, 2 * time.Second, Healthy, false},
			{false, 3 * time.Second, Healthy, false}, {false, 4 * time.Second, Unhealthy, true}}},
		{"start period failures do not count", Config{Retries: 1, StartPeriod: 10 * time.Second}, []step{
			{false, 0, Starting, false}, {false, 9 * time.Second, Starting, false}, {false, 10 * time.Second, Unhealthy, true}}},
		{"healthy in start period, failure there ignored", Config{Retries: 1, StartPeriod: 10 * time.Second}, []step{
			{true, time.Second, Healthy, true}, {false, 2 * time.Second, Healthy, false}, {false, 11 * time.Second, Unhealthy, true}}},
		{"retries 0 means the default", Config{}, []step{
			{false, 0, Starting, false}, {false, 0, Starting, false}, {false, 0, Unhealthy, true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(c.cfg, t0)
			if tr.Verdict() != Starting {
				t.Fatalf("initial verdict %q, want starting", tr.Verdict())
			}
			for i, s := range c.steps {
				v, ch := tr.Record(s.pass, t0.Add(s.after))
				if v != s.verdict || ch != s.changed {
					t.Fatalf("step %d (pass=%v at +%v): got %q changed=%v, want %q changed=%v", i, s.pass, s.after, v, ch, s.verdict, s.changed)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	if argv, err := ParseCmd(`["/bin/check","-q"]`); err != nil || !reflect.DeepEqual(argv, []string{"/bin/check", "-q"}) {
		t.Errorf("ParseCmd(json) = %q, %v", argv, err)
	}
	if argv, err := ParseCmd(`curl -f localhost || exit 1`); err != nil || !reflect.DeepEqual(argv, []string{"/bin/sh", "-c", "curl -f localhost || exit 1"}) {
		t.Errorf("ParseCmd(shell) = %q, %v", argv, err)
	}
	if argv, err := ParseCmd("none"); err != nil || argv != nil {
		t.Errorf("ParseCmd(none) = %q, %v", argv, err)
	}
	for _, bad := range []string{`["a",`, `[]`, `[1]`} {
		if _, err := ParseCmd(bad); err == nil {
			t.Errorf("ParseCmd(%q) accepted", bad)
		}
	}
	durs := []struct {
		f    func(string) (time.Duration, error)
		in   string
		want time.Duration
		ok   bool
	}{
		{ParseInterval, "30s", 30 * time.Second, true},
		{ParseInterval, "1m30s", 90 * time.Second, true},
		{ParseInterval, "disable", 0, true},
		{ParseInterval, "500ms", 0, false},
		{ParseInterval, "30", 0, false},
		{ParseInterval, "soon", 0, false},
		{ParseTimeout, "1s", time.Second, true},
		{ParseTimeout, "0s", 0, false},
		{ParseTimeout, "disable", 0, false},
		{ParseStartPeriod, "0s", 0, true},
		{ParseStartPeriod, "2m3s", 123 * time.Second, true},
		{ParseStartPeriod, "-1s", 0, false},
	}
	for _, d := range durs {
		got, err := d.f(d.in)
		if (err == nil) != d.ok || (d.ok && got != d.want) {
			t.Errorf("parse %q = %v, %v; want %v ok=%v", d.in, got, err, d.want, d.ok)
		}
	}
	for in, ok := range map[string]bool{"3": true, "1": true, "0": false, "-1": false, "x": false} {
		if _, err := ParseRetries(in); (err == nil) != ok {
			t.Errorf("ParseRetries(%q) err=%v", in, err)
		}
	}
	for in, ok := range map[string]bool{"none": true, "kill": true, "restart": true, "stop": true, "reboot": false, "": false} {
		if _, err := ParseOnFailure(in); (err == nil) != ok {
			t.Errorf("ParseOnFailure(%q) err=%v", in, err)
		}
	}
	probes := map[string]string{
		"http://127.0.0.1:8080/healthz": "http://127.0.0.1:8080/healthz",
		"http://:8080/healthz":          "http://127.0.0.1:8080/healthz",
		"tcp://:5432":                   "tcp://127.0.0.1:5432",
		"tcp://[::1]:5432":              "tcp://[::1]:5432",
		"tcp://db:5432/x":               "",
		"https://x:1/":                  "",
		"http://x/":                     "",
		"http://x:0/":                   "",
		"http://x:99999/":               "",
		"127.0.0.1:80":                  "",
		"http://u:p@x:80/":              "",
	}
	for in, want := range probes {
		got, err := ParseProbe(in)
		if (err == nil) != (want != "") || got != want {
			t.Errorf("ParseProbe(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestProbeCheck runs the HTTP and TCP probes against real listeners.
func TestProbeCheck(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	defer srv.Close()
	chk, err := ProbeCheck(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := chk(ctx); err != nil {
		t.Fatalf("200: %v", err)
	}
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := chk(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503: err = %v, want a 503 failure", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	tcp, _ := ProbeCheck("tcp://" + addr)
	if err := tcp(ctx); err != nil {
		t.Fatalf("tcp open: %v", err)
	}
	ln.Close()
	if err := tcp(ctx); err == nil {
		t.Fatal("tcp closed: passed")
	}
}

// TestMonitor drives the loop with a scripted check: reports come only on
// changes (and on each failure while unhealthy), and a hung check fails
// at its timeout.
func TestMonitor(t *testing.T) {
	results := make(chan error, 10)
	for _, r := range []error{nil, nil, errors.New("down"), errors.New("down"), nil} {
		results <- r
	}
	var mu sync.Mutex
	var got []string
	reports := make(chan struct{}, 20)
	check := func(ctx context.Context) error {
		select {
		case r := <-results:
			return r
		default:
			<-ctx.Done() // hang until the timeout
			return ctx.Err()
		}
	}
	cfg := Config{Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, Retries: 2}
	m := Start(cfg, time.Now(), check, func(v string, err error) {
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		reports <- struct{}{}
	})
	defer m.Stop()
	want := []string{Starting, Healthy, Unhealthy, Healthy, Unhealthy}
	deadline := time.After(10 * time.Second)
	for i := 0; i < len(want); i++ {
		select {
		case <-reports:
		case <-deadline:
			t.Fatalf("reports %q, want %q", got, want)
		}
	}
	m.Stop()
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got[:len(want)], want) {
		t.Fatalf("reports %q, want %q", got, want)
	}
}
