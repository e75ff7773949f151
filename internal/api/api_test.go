package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api"
	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func js(u schema.Unit) string {
	b, err := json.Marshal(u)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestBadInput: every refused request answers 4xx with a JSON error naming
// the unit and the field, and leaves the registry exactly as it was.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.mustPut("kept.service", schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
	e.mustPut("tmpl@.service", schema.Unit{Options: service()}, "", http.StatusCreated)

	launched := func(o []unit.Option) string { return js(schema.Unit{Options: o, DesiredState: "launched"}) }
	long := strings.Repeat("a", unit.MaxNameLength) + ".service"
	cases := []struct {
		desc   string
		method string // default PUT
		name   string
		query  string
		body   string
		code   int
		want   []string
	}{
		// Unit file options that File.Check refuses.
		{desc: "newline in option name", name: "bad-optname.service",
			body: launched(opts("Service|Exec\nStart=/bin/true")),
			code: 400, want: []string{"unit bad-optname.service: [Service] Exec\nStart", "option name"}},
		{desc: "newline in option value", name: "bad-optval.service",
			body: launched(opts("Service|ExecStart=/bin/true\nExecStartPre=/bin/false")),
			code: 400, want: []string{"unit bad-optval.service: [Service] ExecStart", "line break"}},
		{desc: "control character in value", name: "bad-ctl.service",
			body: launched(opts("Service|ExecStart=/bin/true\x00")),
			code: 400, want: []string{"unit bad-ctl.service: [Service] ExecStart", "control character"}},
		{desc: "bracket in section", name: "bad-section.service",
			body: launched(opts("Serv]ice|ExecStart=/bin/true")),
			code: 400, want: []string{"unit bad-section.service: [Serv]ice] ExecStart", "section name"}},
		{desc: "empty section", name: "bad-nosection.service",
			body: launched(opts("|ExecStart=/bin/true")),
			code: 400, want: []string{"unit bad-nosection.service", "empty section name"}},
		{desc: "empty option name", name: "bad-noname.service",
			body: launched(opts("Service|=/bin/true")),
			code: 400, want: []string{"unit bad-noname.service: [Service]", "empty name"}},
		{desc: "trailing whitespace in value", name: "bad-space.service",
			body: launched(opts("Service|ExecStart=/bin/true ")),
			code: 400, want: []string{"unit bad-space.service: [Service] ExecStart", "whitespace"}},
		{desc: "trailing backslash in value", name: "bad-bslash.service",
			body: launched(opts(`Service|ExecStart=/bin/true \`)),
			code: 400, want: []string{"unit bad-bslash.service: [Service] ExecStart", "backslash"}},
		{desc: "invalid UTF-8 in value", name: "bad-utf8.service",
			body: `{"options":[{"section":"Service","name":"ExecStart","value":"/bin/\xff"}],"desiredState":"launched"}`,
			code: 400, want: []string{"unit bad-utf8.service"}},
		{desc: "unit file larger than MaxFileSize", name: "bad-bigfile.service",
			body: launched(service("Service|Environment=X=" + strings.Repeat("x", unit.MaxFileSize))),
			code: 413, want: []string{"unit bad-bigfile.service", "options", fmt.Sprint(unit.MaxFileSize)}},

		// Unit names.
		{desc: "bad character in name", name: "we$b.service", body: launched(service()),
			code: 400, want: []string{"unit we$b.service: name", `'$'`}},
		{desc: "space in name", name: "we b.service", body: launched(service()),
			code: 400, want: []string{"unit we b.service: name", `' '`}},
		{desc: "no suffix", name: "web", body: launched(service()),
			code: 400, want: []string{"unit web: name", "unit type"}},
		{desc: "unknown suffix", name: "web.exe", body: launched(service()),
			code: 400, want: []string{"unit web.exe: name", "unit type"}},
		{desc: "name too long", name: long, body: launched(service()),
			code: 400, want: []string{"unit " + long + ": name", fmt.Sprint(unit.MaxNameLength)}},
		{desc: "256-byte name (systemd's UNIT_NAME_MAX counts the NUL)", name: strings.Repeat("n", 248) + ".service", body: launched(service()),
			code: 400, want: []string{"name", "256 bytes, more than the 255"}},
		{desc: "empty prefix", name: "@.service", body: launched(service()),
			code: 400, want: []string{"unit @.service: name", "empty prefix"}},
		{desc: "bad name with desired state only", name: "we$b.service", body: `{"desiredState":"launched"}`,
			code: 400, want: []string{"unit we$b.service: name"}},

		// What the node's unit manager checks when it loads the unit.
		{desc: "unknown Type", name: "sem-type.service", body: launched(service("Service|Type=bogus")),
			code: 400, want: []string{"unit sem-type.service: [Service] Type", "bogus"}},
		{desc: "no ExecStart", name: "sem-noexec.service", body: launched(opts("Service|Restart=always")),
			code: 400, want: []string{"unit sem-noexec.service: [Service] ExecStart", "exactly one ExecStart"}},
		{desc: "no ExecStart on a timer", name: "sem-noexec.timer", body: launched(opts("Unit|Description=x")),
			code: 400, want: []string{"unit sem-noexec.timer: [Service] ExecStart"}},
		{desc: "bad Restart", name: "sem-restart.service", body: launched(service("Service|Restart=sometimes")),
			code: 400, want: []string{"unit sem-restart.service: [Service] Restart", "sometimes"}},
		{desc: "bad duration", name: "sem-dur.service", body: launched(service("Service|RestartSec=soon")),
			code: 400, want: []string{"unit sem-dur.service: [Service] RestartSec"}},
		{desc: "unsupported Service key", name: "sem-key.service", body: launched(service("Service|PrivateTmp=yes")),
			code: 400, want: []string{"unit sem-key.service: [Service] PrivateTmp", "unsupported"}},
		{desc: "unknown specifier", name: "sem-spec.service", body: launched(opts("Service|ExecStart=/bin/echo %Z")),
			code: 400, want: []string{"unit sem-spec.service: [Service] ExecStart", "%Z"}},
		{desc: "container with ExecStart", name: "ctr-exec.service",
			body: launched(opts("Container|Image=docker.io/library/busybox", "Service|ExecStart=/bin/true")),
			code: 400, want: []string{"unit ctr-exec.service: [Service] ExecStart", "[Container] Exec="}},
		{desc: "container without Image", name: "ctr-noimage.service", body: launched(opts("Container|Exec=sleep 1")),
			code: 400, want: []string{"unit ctr-noimage.service: [Container] Image"}},
		{desc: "unknown Container key", name: "ctr-key.service",
			body: launched(opts("Container|Image=busybox", "Container|Colour=blue")),
			code: 400, want: []string{"unit ctr-key.service: [Container] Colour", "unknown key"}},
		{desc: "bad Container value", name: "ctr-ro.service",
			body: launched(opts("Container|Image=busybox", "Container|ReadOnly=perhaps")),
			code: 400, want: []string{"unit ctr-ro.service: [Container] ReadOnly", "perhaps"}},
		{desc: "bad resource value", name: "ctr-mem.service",
			body: launched(opts("Container|Image=busybox", "Service|MemoryMax=lots")),
			code: 400, want: []string{"unit ctr-mem.service: [Service]", "MemoryMax"}},
		{desc: "resource key without a container", name: "sem-res.service", body: launched(service("Service|MemoryMax=1G")),
			code: 400, want: []string{"unit sem-res.service: [Service] MemoryMax", "container units only"}},
		{desc: "bad instance of a good template", name: "tmpl@x.service", body: launched(service("Service|Type=bogus")),
			code: 400, want: []string{"unit tmpl@x.service: [Service] Type"}},

		// [X-Fleet].
		{desc: "unknown X-Fleet key", name: "xf-unknown.service", body: launched(service("X-Fleet|Colour=blue")),
			code: 400, want: []string{"unit xf-unknown.service: [X-Fleet] Colour", "unknown option"}},
		{desc: "boot ID without fleet's X-Condition prefix", name: "xf-boot.service", body: launched(service("X-Fleet|MachineBootID=abc")),
			code: 400, want: []string{"unit xf-boot.service: [X-Fleet] MachineBootID", "MachineID"}},
		{desc: "Global with MachineOf", name: "xf-global-of.service",
			body: launched(service("X-Fleet|Global=true", "X-Fleet|MachineOf=kept.service")),
			code: 400, want: []string{"unit xf-global-of.service: [X-Fleet] Global", "MachineOf"}},
		{desc: "Global with Replaces", name: "xf-global-repl.service",
			body: launched(service("X-Fleet|Global=true", "X-Fleet|Replaces=web*")),
			code: 400, want: []string{"unit xf-global-repl.service: [X-Fleet] Global", "Replaces"}},
		{desc: "Global not a boolean", name: "xf-global-bool.service", body: launched(service("X-Fleet|Global=maybe")),
			code: 400, want: []string{"unit xf-global-bool.service: [X-Fleet] Global", "maybe"}},
		{desc: "MachineOf with MachineID", name: "xf-of-id.service",
			body: launched(service("X-Fleet|MachineID=abc", "X-Fleet|MachineOf=kept.service")),
			code: 400, want: []string{"unit xf-of-id.service: [X-Fleet] MachineOf", "MachineID"}},
		{desc: "MachineOf itself", name: "xf-self.service", body: launched(service("X-Fleet|MachineOf=xf-self.service")),
			code: 400, want: []string{"unit xf-self.service: [X-Fleet] MachineOf", "itself"}},
		{desc: "MachineOf a template", name: "xf-of-tmpl.service", body: launched(service("X-Fleet|MachineOf=tmpl@.service")),
			code: 400, want: []string{"unit xf-of-tmpl.service: [X-Fleet] MachineOf", "template"}},
		{desc: "MachineOf an invalid name", name: "xf-of-bad.service", body: launched(service("X-Fleet|MachineOf=nosuffix")),
			code: 400, want: []string{"unit xf-of-bad.service: [X-Fleet] MachineOf", "nosuffix"}},
		{desc: "Replaces not a glob", name: "xf-repl.service", body: launched(service("X-Fleet|Replaces=[web")),
			code: 400, want: []string{"unit xf-repl.service: [X-Fleet] Replaces", "glob"}},
		{desc: "two MachineIDs", name: "xf-ids.service", body: launched(service("X-Fleet|MachineID=a b")),
			code: 400, want: []string{"unit xf-ids.service: [X-Fleet] MachineID", "one machine"}},

		// The body.
		{desc: "oversized body", name: "body-big.service",
			body: launched(service("Service|Environment=X=" + strings.Repeat("x", api.MaxBodyBytes))),
			code: 413, want: []string{"unit body-big.service", "larger than", fmt.Sprint(api.MaxBodyBytes)}},
		{desc: "empty body", name: "body-empty.service", body: "",
			code: 400, want: []string{"unit body-empty.service", "empty request body"}},
		{desc: "malformed JSON", name: "body-mal.service", body: `{"desiredState":`,
			code: 400, want: []string{"unit body-mal.service", "malformed JSON"}},
		{desc: "JSON array", name: "body-array.service", body: `["launched"]`,
			code: 400, want: []string{"unit body-array.service", "malformed JSON"}},
		{desc: "wrong field type", name: "body-type.service", body: `{"desiredState":5}`,
			code: 400, want: []string{"unit body-type.service", "desiredState"}},
		{desc: "unknown JSON field", name: "body-unknown.service", body: `{"desiredState":"launched","colour":"blue"}`,
			code: 400, want: []string{"unit body-unknown.service", `"colour"`}},
		{desc: "trailing data after JSON", name: "body-trail.service",
			body: launched(service()) + `{"desiredState":"inactive"}`,
			code: 400, want: []string{"unit body-trail.service", "after the JSON"}},
		{desc: "name mismatch", name: "url.service", body: js(schema.Unit{Name: "body.service", Options: service(), DesiredState: "launched"}),
			code: 400, want: []string{"unit url.service", `"body.service"`, "name"}},
		{desc: "no desired state and no options", name: "kept.service", body: `{}`,
			code: 400, want: []string{"unit kept.service", "desiredState", "required"}},
		{desc: "invalid desiredState with options", name: "ds-bad.service",
			body: js(schema.Unit{Options: service(), DesiredState: "running"}),
			code: 400, want: []string{"unit ds-bad.service", "desiredState", `"running"`}},
		{desc: "invalid desiredState alone", name: "kept.service", body: `{"desiredState":"started"}`,
			code: 400, want: []string{"unit kept.service", "desiredState", `"started"`}},
		{desc: "template launched", name: "tmpl2@.service", body: launched(service()),
			code: 400, want: []string{"unit tmpl2@.service", "desiredState", "launched", "tmpl2@1.service"}},
		{desc: "stored template set to loaded", name: "tmpl@.service", body: `{"desiredState":"loaded"}`,
			code: 400, want: []string{"unit tmpl@.service", "desiredState", "loaded"}},

		// Units that do not exist.
		{desc: "desired state of a missing unit", name: "ghost.service", body: `{"desiredState":"launched"}`,
			code: 404, want: []string{"unit ghost.service", "not found", "submit it first"}},
		{desc: "desired state with empty options", name: "ghost.service", body: `{"options":[],"desiredState":"launched"}`,
			code: 404, want: []string{"unit ghost.service", "submit it first"}},
		{desc: "instance of a missing template", name: "ghost@1.service", body: `{"desiredState":"launched"}`,
			code: 404, want: []string{"unit ghost@1.service", "submit it first"}},
		{desc: "delete a missing unit", method: http.MethodDelete, name: "ghost.service",
			code: 404, want: []string{"unit ghost.service", "not found", "nothing to destroy"}},
		{desc: "unknown method", method: http.MethodPost, name: "kept.service", body: launched(service()),
			code: 404, want: []string{"POST /fleet/v1/units/kept.service"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			e := e.with(t)
			method := c.method
			if method == "" {
				method = http.MethodPut
			}
			before := e.keys()
			code, body := e.do(method, unitPath(c.name)+c.query, c.body)
			if code != c.code {
				t.Fatalf("%s %s: status %d, want %d: %s", method, c.name, code, c.code, body)
			}
			msg := errorMessage(t, code, body)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if after := e.keys(); !slices.Equal(before, after) {
				t.Errorf("refused request changed the registry:\nbefore %v\nafter  %v", before, after)
			}
			if names, _ := e.unitNames(100); !slices.Equal(names, []string{"kept.service", "tmpl@.service"}) {
				t.Errorf("units after refused request: %v", names)
			}
		})
	}
}

// TestMachineOfCycle: a submit that closes a MachineOf cycle is refused and
// not stored, whichever way the cycle is closed.
func TestMachineOfCycle(t *testing.T) {
	e := newEnv(t)
	e.mustPut("cyc-a.service", schema.Unit{Options: service("X-Fleet|MachineOf=cyc-b.service"), DesiredState: "launched"}, "", http.StatusCreated)
	e.mustPut("cyc-c.service", schema.Unit{Options: service("X-Fleet|MachineOf=cyc-a.service"), DesiredState: "launched"}, "", http.StatusCreated)
	e.mustPut("cy@.service", schema.Unit{Options: service("X-Fleet|MachineOf=cyc-x.service")}, "", http.StatusCreated)
	e.mustPut("cyc-x.service", schema.Unit{Options: service("X-Fleet|MachineOf=cy@1.service"), DesiredState: "launched"}, "", http.StatusCreated)
	hashA := unit.FromOptions(service("X-Fleet|MachineOf=cyc-b.service")).Hash()

	cases := []struct {
		desc, name, query, body string
		cycle                   string
	}{
		{"B closes A→B", "cyc-b.service", "", js(schema.Unit{Options: service("X-Fleet|MachineOf=cyc-a.service"), DesiredState: "launched"}),
			"[cyc-a.service cyc-b.service]"},
		{"B closes A→B→C", "cyc-b.service", "", js(schema.Unit{Options: service("X-Fleet|MachineOf=cyc-c.service"), DesiredState: "launched"}),
			"[cyc-a.service cyc-b.service cyc-c.service]"},
		{"replacing A closes A→C", "cyc-a.service", "?replace=true", js(schema.Unit{Options: service("X-Fleet|MachineOf=cyc-c.service"), DesiredState: "launched"}),
			"[cyc-a.service cyc-c.service]"},
		{"instance from template closes cy@1→x", "cy@1.service", "", `{"desiredState":"launched"}`,
			"[cy@1.service cyc-x.service]"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			e := e.with(t)
			before := e.keys()
			code, body := e.do(http.MethodPut, unitPath(c.name)+c.query, c.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			msg := errorMessage(t, code, body)
			for _, w := range []string{"unit " + c.name + ": [X-Fleet] MachineOf", "cycle " + c.cycle} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if after := e.keys(); !slices.Equal(before, after) {
				t.Errorf("refused request changed the registry:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	if u, _ := e.getUnit("cyc-a.service"); u == nil || u.Hash != hashA {
		t.Errorf("cyc-a.service after refused replace: %+v, want hash %s", u, hashA)
	}
	// Breaking the chain elsewhere is fine: B following nobody closes nothing.
	e.mustPut("cyc-b.service", schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
}

func TestUnitLifecycle(t *testing.T) {
	e := newEnv(t)
	const name = "life.service"
	v1 := service("Unit|Description=first")
	v2 := service("Unit|Description=second")

	e.mustPut(name, schema.Unit{Name: name, Options: v1, DesiredState: "launched"}, "", http.StatusCreated)
	u, _ := e.getUnit(name)
	want := &schema.Unit{Name: name, Options: v1, DesiredState: "launched", CurrentState: "inactive", Hash: unit.FromOptions(v1).Hash()}
	if !unitEqual(u, want) {
		t.Fatalf("GET after create: %+v, want %+v", u, want)
	}

	// Identical re-create: nothing changes.
	e.mustPut(name, schema.Unit{Options: v1, DesiredState: "launched"}, "", http.StatusNoContent)
	if u, _ := e.getUnit(name); !unitEqual(u, want) {
		t.Errorf("GET after identical re-create: %+v, want %+v", u, want)
	}

	// Options alone re-submitted: the stored desired state stays.
	e.mustPut(name, schema.Unit{Options: v1}, "", http.StatusNoContent)
	if u, _ := e.getUnit(name); !unitEqual(u, want) {
		t.Errorf("GET after re-submit without desiredState: %+v, want %+v", u, want)
	}

	// Different options with replace=false (what our client sends without
	// --replace): 409, unchanged.
	before := e.keys()
	code, body := e.put(name, schema.Unit{Options: v2, DesiredState: "launched"}, "?replace=false")
	if code != http.StatusConflict {
		t.Fatalf("differing re-create: status %d, want 409: %s", code, body)
	}
	if msg := errorMessage(t, code, body); !strings.Contains(msg, "unit "+name) || !strings.Contains(msg, "replace") {
		t.Errorf("409 message %q should name the unit and say how to replace it", msg)
	}
	if after := e.keys(); !slices.Equal(before, after) {
		t.Errorf("409 changed the registry:\nbefore %v\nafter  %v", before, after)
	}

	// With replace: 204 and the new hash.
	e.mustPut(name, schema.Unit{Options: v2, DesiredState: "loaded"}, "?replace=true", http.StatusNoContent)
	want = &schema.Unit{Name: name, Options: v2, DesiredState: "loaded", CurrentState: "inactive", Hash: unit.FromOptions(v2).Hash()}
	if u, _ := e.getUnit(name); !unitEqual(u, want) || u.Hash == unit.FromOptions(v1).Hash() {
		t.Errorf("GET after replace: %+v, want %+v", u, want)
	}

	// Replacing with options alone keeps the desired state too.
	v3 := service("Unit|Description=third")
	e.mustPut(name, schema.Unit{Options: v3}, "?replace=true", http.StatusNoContent)
	if u, _ := e.getUnit(name); u == nil || u.DesiredState != "loaded" || u.Hash != unit.FromOptions(v3).Hash() {
		t.Errorf("GET after replace without desiredState: %+v", u)
	}
	e.mustPut(name, schema.Unit{Options: v2}, "?replace=true", http.StatusNoContent)

	// Desired state alone.
	for _, ds := range []string{"launched", "inactive", "loaded"} {
		e.mustPut(name, schema.Unit{DesiredState: ds}, "", http.StatusNoContent)
		if u, _ := e.getUnit(name); u == nil || u.DesiredState != ds || u.Hash != want.Hash {
			t.Errorf("after setting %s: %+v", ds, u)
		}
	}

	// Delete: 204, then 404 on GET, PUT of the state and DELETE.
	if code, body := e.do(http.MethodDelete, unitPath(name), ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: status %d: %s", code, body)
	}
	if _, code := e.getUnit(name); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: status %d, want 404", code)
	}
	if code, _ := e.do(http.MethodDelete, unitPath(name), ""); code != http.StatusNotFound {
		t.Errorf("second DELETE: status %d, want 404", code)
	}
	if keys := e.keys(); len(keys) != 0 {
		t.Errorf("registry after DELETE: %v", keys)
	}
}

func TestInstanceFromTemplate(t *testing.T) {
	e := newEnv(t)
	tmpl := service("Service|ExecStartPre=/bin/echo %i", "X-Fleet|Conflicts=inst@*.service")
	e.mustPut("inst@.service", schema.Unit{Options: tmpl}, "", http.StatusCreated)
	if u, _ := e.getUnit("inst@.service"); u == nil || u.DesiredState != "inactive" {
		t.Fatalf("template: %+v", u)
	}

	e.mustPut("inst@1.service", schema.Unit{DesiredState: "launched"}, "", http.StatusCreated)
	want := &schema.Unit{Name: "inst@1.service", Options: tmpl, DesiredState: "launched", CurrentState: "inactive", Hash: unit.FromOptions(tmpl).Hash()}
	if u, _ := e.getUnit("inst@1.service"); !unitEqual(u, want) {
		t.Errorf("instance: %+v, want %+v", u, want)
	}
	// Now it exists: desired state alone only changes its state.
	e.mustPut("inst@1.service", schema.Unit{DesiredState: "loaded"}, "", http.StatusNoContent)
	if u, _ := e.getUnit("inst@1.service"); u == nil || u.DesiredState != "loaded" {
		t.Errorf("instance after loaded: %+v", u)
	}
	// An instance with its own options is stored as sent.
	own := service("Unit|Description=own")
	e.mustPut("inst@2.service", schema.Unit{Options: own, DesiredState: "launched"}, "", http.StatusCreated)
	if u, _ := e.getUnit("inst@2.service"); u == nil || u.Hash != unit.FromOptions(own).Hash() {
		t.Errorf("instance with own options: %+v", u)
	}
	if names, _ := e.unitNames(10); !slices.Equal(names, []string{"inst@.service", "inst@1.service", "inst@2.service"}) {
		t.Errorf("units: %v", names)
	}
}

func unitEqual(a, b *schema.Unit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && slices.Equal(a.Options, b.Options) && a.DesiredState == b.DesiredState &&
		a.CurrentState == b.CurrentState && a.MachineID == b.MachineID && a.Hash == b.Hash
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i := 25; i >= 1; i-- { // stored out of order
		name := fmt.Sprintf("page-%02d.service", i)
		all = append(all, name)
		e.mustPut(name, schema.Unit{Options: service(), DesiredState: "loaded"}, "", http.StatusCreated)
	}
	all = sorted(all)

	// Walk the pages by hand to see each page and token.
	var got []string
	tok := ""
	var sizes []int
	for range 10 {
		q := "?pageSize=10"
		if tok != "" {
			q += "&nextPageToken=" + tok
		}
		code, body := e.do(http.MethodGet, "/fleet/v1/units"+q, "")
		if code != http.StatusOK {
			t.Fatalf("list%s: %d %s", q, code, body)
		}
		var p schema.UnitPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p.Units))
		for _, u := range p.Units {
			got = append(got, u.Name)
			if u.DesiredState != "loaded" || len(u.Options) == 0 {
				t.Errorf("listed unit %+v", u)
			}
		}
		if p.NextPageToken == tok && tok != "" {
			t.Fatalf("token %q repeats", tok)
		}
		tok = p.NextPageToken
		if tok == "" {
			break
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", sizes)
	}
	if !slices.Equal(got, all) {
		t.Errorf("pages hold %v, want %v", got, all)
	}
	if names, pages := e.unitNames(25); pages != 1 || !slices.Equal(names, all) {
		t.Errorf("pageSize=25: %d pages, %v", pages, names)
	}
	if names, pages := e.unitNames(1); pages != 25 || !slices.Equal(names, all) {
		t.Errorf("pageSize=1: %d pages, %v", pages, names)
	}
	// Without pageSize everything fits on one page.
	code, body := e.do(http.MethodGet, "/fleet/v1/units", "")
	var p schema.UnitPage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || len(p.Units) != 25 || p.NextPageToken != "" {
		t.Errorf("default page: %d %s", code, body)
	}

	bad := []struct{ query, want string }{
		{"?pageSize=0", "pageSize"},
		{"?pageSize=-1", "pageSize"},
		{"?pageSize=ten", "pageSize"},
		{"?pageSize=10001", "pageSize"},
		{"?nextPageToken=not-a-token!", "nextPageToken"},
		{"?nextPageToken=" + base64.RawURLEncoding.EncodeToString([]byte("page-05.service")), "nextPageToken"},
		{"?nextPageToken=" + base64.StdEncoding.EncodeToString([]byte("a:xy")), "nextPageToken"}, // padded
	}
	for _, path := range []string{"/fleet/v1/units", "/fleet/v1/state", "/fleet/v1/machines"} {
		for _, b := range bad {
			code, body := e.do(http.MethodGet, path+b.query, "")
			if code != http.StatusBadRequest {
				t.Errorf("GET %s%s: status %d, want 400: %s", path, b.query, code, body)
				continue
			}
			if msg := errorMessage(t, code, body); !strings.Contains(msg, b.want) {
				t.Errorf("GET %s%s: message %q does not name %s", path, b.query, msg, b.want)
			}
		}
	}
}

func TestStates(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"st-a.service", "st-b.service", "st-c.service"} {
		e.mustPut(n, schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
	}
	hash := unit.FromOptions(service()).Hash()
	since := time.Date(2024, 5, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	rec := func(u, m, applied, active, sub string) registry.StateWrite {
		return registry.StateWrite{Unit: u, Record: &registry.StateRecord{Unit: u, Machine: m, Hash: hash, Applied: applied,
			State: unit.State{Load: "loaded", Active: active, Sub: sub, PID: 42, Since: since}}}
	}
	lease := e.lease()
	if err := e.reg.WriteStates(e.ctx(), "m1", lease, []registry.StateWrite{
		rec("st-a.service", "m1", "launched", "active", "running"),
		rec("st-b.service", "m1", "loaded", "inactive", "dead"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.WriteStates(e.ctx(), "m2", lease, []registry.StateWrite{rec("st-a.service", "m2", "launched", "failed", "failed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Apply(e.ctx(), always, []registry.Change{
		registry.SetUnplaced("st-c.service", "no machine has region=eu"),
		registry.SetUnplaced("st-gone.service", "a destroyed unit's reason is not shown"),
	}); err != nil {
		t.Fatal(err)
	}

	list := func(q string) []*schema.UnitState {
		t.Helper()
		code, body := e.do(http.MethodGet, "/fleet/v1/state"+q, "")
		if code != http.StatusOK {
			t.Fatalf("state%s: %d %s", q, code, body)
		}
		var p schema.UnitStatePage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p.States
	}
	keys := func(ss []*schema.UnitState) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name+"/"+s.MachineID)
		}
		return out
	}
	all := list("")
	wantAll := []string{"st-a.service/m1", "st-a.service/m2", "st-b.service/m1", "st-c.service/"}
	if !slices.Equal(keys(all), wantAll) {
		t.Fatalf("states %v, want %v", keys(all), wantAll)
	}
	a1 := all[0]
	if a1.Hash != hash || a1.SystemdLoadState != "loaded" || a1.SystemdActiveState != "active" || a1.SystemdSubState != "running" ||
		a1.PID != 42 || a1.Since != since.UTC().Format(time.RFC3339Nano) {
		t.Errorf("st-a on m1: %+v", a1)
	}
	c := all[3]
	if c.MachineID != "" || c.Reason != "not placed: no machine has region=eu" || c.Hash != hash || c.SystemdActiveState != "-" {
		t.Errorf("unplaced st-c: %+v", c)
	}

	filters := []struct {
		query string
		want  []string
	}{
		{"?unitName=st-a.service", []string{"st-a.service/m1", "st-a.service/m2"}},
		{"?unitName=st-a.service&unitName=st-c.service", []string{"st-a.service/m1", "st-a.service/m2", "st-c.service/"}},
		{"?unitName=st-c.service", []string{"st-c.service/"}},
		{"?unitName=st-gone.service", nil},
		{"?unitName=nobody.service", nil},
		{"?machineID=m1", []string{"st-a.service/m1", "st-b.service/m1"}},
		{"?machineID=m2&unitName=st-a.service", []string{"st-a.service/m2"}},
		{"?machineID=m2&unitName=st-b.service", nil},
		{"?machineID=m3", nil},
	}
	for _, f := range filters {
		if got := keys(list(f.query)); !slices.Equal(got, f.want) {
			t.Errorf("state%s: %v, want %v", f.query, got, f.want)
		}
	}
	// Pages of one chain through every state.
	var paged []string
	tok := ""
	for range 10 {
		q := "?pageSize=1"
		if tok != "" {
			q += "&nextPageToken=" + tok
		}
		code, body := e.do(http.MethodGet, "/fleet/v1/state"+q, "")
		var p schema.UnitStatePage
		if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("state%s: %d %s", q, code, body)
		}
		paged = append(paged, keys(p.States)...)
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if !slices.Equal(paged, wantAll) {
		t.Errorf("paged states %v, want %v", paged, wantAll)
	}
	// The unit shows the state its machine applied.
	if u, _ := e.getUnit("st-a.service"); u == nil || u.CurrentState != "launched" {
		t.Errorf("st-a.service: %+v", u)
	}
}

func TestMachinesAndHealth(t *testing.T) {
	e := newEnv(t)
	lease := e.lease()
	ms := []*registry.MachineRecord{
		{ID: "m-c", Name: "charlie", PublicIP: "10.0.0.3", APIURL: "https://10.0.0.3:4001", Version: "1.2.3", Update: "idle"},
		{ID: "m-a", Name: "alpha", PublicIP: "10.0.0.1", Metadata: map[string]string{"region": "eu", "disk": "ssd"}},
		{ID: "m-b", Name: "bravo", PublicIP: "10.0.0.2"},
	}
	for _, m := range ms {
		if err := e.reg.RegisterMachine(e.ctx(), m, lease); err != nil {
			t.Fatal(err)
		}
	}
	var got []*schema.Machine
	tok := ""
	pages := 0
	for range 10 {
		q := "?pageSize=2"
		if tok != "" {
			q += "&nextPageToken=" + tok
		}
		code, body := e.do(http.MethodGet, "/fleet/v1/machines"+q, "")
		var p schema.MachinePage
		if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("machines%s: %d %s", q, code, body)
		}
		pages++
		got = append(got, p.Machines...)
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if pages != 2 || len(got) != 3 {
		t.Fatalf("%d pages, %d machines", pages, len(got))
	}
	wantIDs := []string{"m-a", "m-b", "m-c"}
	for i, m := range got {
		if m.ID != wantIDs[i] {
			t.Errorf("machine %d is %s, want %s", i, m.ID, wantIDs[i])
		}
	}
	if a := got[0]; a.Name != "alpha" || a.PrimaryIP != "10.0.0.1" || a.Metadata["region"] != "eu" || a.Metadata["disk"] != "ssd" {
		t.Errorf("m-a: %+v", a)
	}
	if c := got[2]; c.APIURL != "https://10.0.0.3:4001" || c.Version != "1.2.3" || c.Update != "idle" || c.PrimaryIP != "10.0.0.3" {
		t.Errorf("m-c: %+v", c)
	}

	if code, body := e.do(http.MethodGet, "/health", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("health: %d %q", code, body)
	}
	code, body := e.do(http.MethodGet, "/fleet/v2/units", "")
	if code != http.StatusNotFound || !strings.Contains(errorMessage(t, code, body), "GET /fleet/v2/units") {
		t.Errorf("unknown endpoint: %d %s", code, body)
	}
}
