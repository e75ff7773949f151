package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api"
	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

// taggedMgr is a simulated machine whose journal names the machine, the unit
// and the arguments it got, so a test can tell who answered.
type taggedMgr struct {
	*sim.Manager
	machine string

	mu    sync.Mutex
	calls []string
}

func (m *taggedMgr) Journal(_ context.Context, name string, lines int, follow bool, w io.Writer) error {
	call := fmt.Sprintf("%s on %s lines=%d follow=%t", name, m.machine, lines, follow)
	m.mu.Lock()
	m.calls = append(m.calls, call)
	m.mu.Unlock()
	_, err := fmt.Fprintln(w, "journal of "+call)
	return err
}

func (m *taggedMgr) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func TestJournal(t *testing.T) {
	e := newEnv(t) // its sim manager: machine "local", plain sim.Manager (writes no journal)
	const remoteID = "remote000000000000000000000000000"
	remote := &taggedMgr{Manager: sim.New(), machine: remoteID}
	remoteSrv := httptest.NewServer(api.New(api.Config{Registry: e.reg, Manager: remote, MachineID: remoteID}))
	t.Cleanup(remoteSrv.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	lease := e.lease()
	for _, m := range []*registry.MachineRecord{
		{ID: localMachine, PublicIP: "127.0.0.1", APIURL: e.srv.URL},
		{ID: remoteID, PublicIP: "127.0.0.1", APIURL: remoteSrv.URL},
		{ID: "noapi", PublicIP: "127.0.0.1"},
		{ID: "gone", PublicIP: "127.0.0.1", APIURL: deadURL},
		// A misregistered machine whose URL is our own server: proxying
		// there must not loop.
		{ID: "liar", PublicIP: "127.0.0.1", APIURL: e.srv.URL},
	} {
		if err := e.reg.RegisterMachine(e.ctx(), m, lease); err != nil {
			t.Fatal(err)
		}
	}
	units := map[string][]string{ // unit -> machines it is placed on
		"jr-local.service":          {localMachine},
		"jr-unloaded.service":       {localMachine},
		"jr-remote.service":         {remoteID},
		"jr-remote-missing.service": {remoteID},
		"jr-global.service":         {remoteID, localMachine},
		"jr-noapi.service":          {"noapi"},
		"jr-dead.service":           {"unregistered"},
		"jr-gone.service":           {"gone"},
		"jr-liar.service":           {"liar"},
		"jr-unplaced.service":       nil,
	}
	var changes []registry.Change
	for name, machines := range units {
		e.mustPut(name, schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
		for _, m := range machines {
			changes = append(changes, registry.PutPlacement(&registry.Placement{Unit: name, Machine: m, Target: "launched",
				Hash: unit.FromOptions(service()).Hash(), Options: service()}))
		}
	}
	if _, err := e.reg.Apply(e.ctx(), always, changes); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"jr-local.service", "jr-global.service"} {
		if err := e.mgr.Load(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"jr-remote.service", "jr-global.service"} {
		if err := remote.Load(n, nil); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		desc, name, query string
		code              int
		body              []string // substrings of the body (error message or journal)
	}{
		{"local, loaded", "jr-local.service", "", 200, nil},
		{"local, not loaded", "jr-unloaded.service", "", 404,
			[]string{"unit jr-unloaded.service is not loaded on machine " + localMachine}},
		{"not stored", "jr-nobody.service", "", 404, []string{"unit jr-nobody.service not found"}},
		{"not placed", "jr-unplaced.service", "", 404, []string{"unit jr-unplaced.service is not placed"}},
		{"bad lines", "jr-local.service", "?lines=-1", 400, []string{"unit jr-local.service: lines \"-1\""}},
		{"lines not a number", "jr-local.service", "?lines=ten", 400, []string{"unit jr-local.service: lines \"ten\""}},
		{"proxied", "jr-remote.service", "?lines=7", 200,
			[]string{"journal of jr-remote.service on " + remoteID + " lines=7 follow=false\n"}},
		{"proxied, default lines", "jr-remote.service", "", 200,
			[]string{"journal of jr-remote.service on " + remoteID + " lines=10 follow=false\n"}},
		{"proxied error comes from the other machine", "jr-remote-missing.service", "", 404,
			[]string{"unit jr-remote-missing.service is not loaded on machine " + remoteID}},
		{"explicit machineID", "jr-global.service", "?machineID=" + remoteID + "&lines=3", 200,
			[]string{"journal of jr-global.service on " + remoteID + " lines=3"}},
		{"placed here and there: served here", "jr-global.service", "", 200, nil},
		{"machine without API URL", "jr-noapi.service", "", 502,
			[]string{"unit jr-noapi.service runs on machine noapi", "not reachable"}},
		{"machine not registered", "jr-dead.service", "", 502,
			[]string{"unit jr-dead.service runs on machine unregistered", "not reachable"}},
		{"machine API down", "jr-gone.service", "", 502,
			[]string{"unit jr-gone.service: reach machine gone at " + deadURL}},
		{"machine URL served by another machine", "jr-liar.service", "", 502,
			[]string{"unit jr-liar.service", "machine " + localMachine + " asked this API (" + strings.TrimPrefix(e.srv.URL, "http://") + ")",
				"log of machine liar", "this is machine " + localMachine, "machine liar has registered a wrong apiURL"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			e := e.with(t)
			start := time.Now()
			code, body := e.do(http.MethodGet, unitPath(c.name)+"/journal"+c.query, "")
			if code != c.code {
				t.Fatalf("status %d, want %d: %q", code, c.code, body)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			text := body
			if code != http.StatusOK {
				text = errorMessage(t, code, body)
			}
			for _, w := range c.body {
				if !strings.Contains(text, w) {
					t.Errorf("body %q does not contain %q", text, w)
				}
			}
			if code == http.StatusOK && len(c.body) == 0 && body != "" {
				t.Errorf("local sim journal should be empty, got %q", body)
			}
		})
	}
	// The follow flag reaches the other machine too.
	code, body := e.do(http.MethodGet, unitPath("jr-remote.service")+"/journal?follow=true&lines=0", "")
	if code != 200 || body != "journal of jr-remote.service on "+remoteID+" lines=0 follow=true\n" {
		t.Errorf("follow: %d %q", code, body)
	}
	for _, c := range remote.Calls() {
		if strings.Contains(c, "jr-global.service") && !strings.Contains(c, "lines=3") {
			t.Errorf("jr-global.service placed here was proxied anyway: %s", c)
		}
	}
}
