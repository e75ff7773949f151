package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPagingFollowsTokens(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		tok, _ := strconv.Atoi(r.URL.Query().Get("nextPageToken"))
		next := ""
		if tok < 2 {
			next = strconv.Itoa(tok + 1)
		}
		name := fmt.Sprintf("u%d.service", tok)
		switch r.URL.Path {
		case "/fleet/v1/units":
			json.NewEncoder(w).Encode(schema.UnitPage{Units: []*schema.Unit{{Name: name}}, NextPageToken: next})
		case "/fleet/v1/state":
			json.NewEncoder(w).Encode(schema.UnitStatePage{States: []*schema.UnitState{{Name: r.URL.Query().Get("unitName"), MachineID: name}}, NextPageToken: next})
		case "/fleet/v1/machines":
			json.NewEncoder(w).Encode(schema.MachinePage{Machines: []*schema.Machine{{ID: name}}, NextPageToken: next})
		}
	})
	ctx := context.Background()
	units, err := c.Units(ctx)
	if err != nil || len(units) != 3 || units[2].Name != "u2.service" {
		t.Errorf("Units = %v, %v", units, err)
	}
	states, err := c.UnitStates(ctx, StateFilter{UnitName: "web.service"})
	if err != nil || len(states) != 3 || states[2].Name != "web.service" {
		t.Errorf("UnitStates = %v, %v", states, err)
	}
	ms, err := c.Machines(ctx)
	if err != nil || len(ms) != 3 {
		t.Errorf("Machines = %v, %v", ms, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if queries[4] != "/fleet/v1/state?nextPageToken=1&unitName=web.service" {
		t.Errorf("second state page asked as %q", queries[4])
	}
}

func TestRepeatedPageTokenIsAnError(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(schema.UnitPage{NextPageToken: "same"})
	})
	if _, err := c.Units(context.Background()); err == nil || !strings.Contains(err.Error(), `page token "same" repeats`) {
		t.Errorf("Units = %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/fleet/v1/units/missing.service":
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(schema.Error{Error: schema.ErrorBody{Code: 404, Message: "unit missing.service not found"}})
		case r.Method == http.MethodPut:
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(schema.Error{Error: schema.ErrorBody{Code: 400, Message: "unit web.service: [X-Fleet] Global: bad"}})
		default:
			http.Error(w, "proxy says no", http.StatusBadGateway)
		}
	})
	ctx := context.Background()
	u, err := c.Unit(ctx, "missing.service")
	if u != nil || err != nil {
		t.Errorf("Unit(missing) = %v, %v; want nil, nil", u, err)
	}
	err = c.CreateUnit(ctx, &schema.Unit{Name: "web.service"}, false)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 400 || err.Error() != "unit web.service: [X-Fleet] Global: bad" {
		t.Errorf("CreateUnit = %#v", err)
	}
	err = c.DestroyUnit(ctx, "web.service")
	if !errors.As(err, &ae) || ae.Code != 502 || err.Error() != "fleetd answered 502: proxy says no" {
		t.Errorf("DestroyUnit = %v", err)
	}
}

func TestWrites(t *testing.T) {
	type req struct {
		method, uri string
		body        schema.Unit
	}
	var mu sync.Mutex
	var got []req
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		var u schema.Unit
		if r.Body != nil {
			json.NewDecoder(r.Body).Decode(&u)
		}
		mu.Lock()
		got = append(got, req{r.Method, r.URL.RequestURI(), u})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	if err := c.CreateUnit(ctx, &schema.Unit{Name: "a@1.service", DesiredState: "inactive"}, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUnitTargetState(ctx, "a@1.service", "launched"); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyUnit(ctx, "a@1.service"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []req{
		{"PUT", "/fleet/v1/units/a@1.service?replace=true", schema.Unit{Name: "a@1.service", DesiredState: "inactive"}},
		{"PUT", "/fleet/v1/units/a@1.service", schema.Unit{Name: "a@1.service", DesiredState: "launched"}},
		{"DELETE", "/fleet/v1/units/a@1.service", schema.Unit{}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests\n%v\nwant\n%v", got, want)
	}
}

func TestJournalFollowEndsWithContext(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("lines") != "3" || r.URL.Query().Get("follow") != "true" {
			http.Error(w, "bad query "+r.URL.RawQuery, 400)
			return
		}
		io.WriteString(w, "hello\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Journal(ctx, "web.service", 3, true, "", pw); pw.Close() }()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(pr, buf); err != nil || string(buf) != "hello\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("Journal after cancel = %v, want nil", err)
	}
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	for _, ep := range []string{"unix://run/fleetd.sock", "ftp://x:1", "http://", "unix://"} {
		if _, err := New(ep, Options{}); err == nil {
			t.Errorf("New(%q) accepted", ep)
		}
	}
	for _, ep := range []string{DefaultEndpoint, "/run/fleetd/fleetd.sock", "http://10.0.0.1:4002", "https://fleet:4002"} {
		if _, err := New(ep, Options{}); err != nil {
			t.Errorf("New(%q) = %v", ep, err)
		}
	}
	if _, err := New("https://fleet:4002", Options{CAFile: "/nonexistent/ca.pem"}); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestConnErrorNamesEndpoint(t *testing.T) {
	c, err := New("http://127.0.0.1:1", Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Machines(context.Background())
	var ce *ConnError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "http://127.0.0.1:1") || !strings.Contains(err.Error(), "FLEETCTL_ENDPOINT") {
		t.Errorf("Machines = %v", err)
	}
}
