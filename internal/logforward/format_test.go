package logforward

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC).UnixNano()

func TestSyslogRecord(t *testing.T) {
	cases := []struct {
		name    string
		r       record
		machine string
		msg     string
		want    string
	}{
		{"stdout is info", record{t: t0, unit: "web.service", stream: Stdout}, "m1", "hello",
			`<30>1 2026-01-02T03:04:05.000006Z m1 web.service - stdout [flotilla@32473 unit="web.service" machine="m1"] hello`},
		{"stderr is err", record{t: t0, unit: "web.service", stream: Stderr}, "m1", "oops",
			`<27>1 2026-01-02T03:04:05.000006Z m1 web.service - stderr [flotilla@32473 unit="web.service" machine="m1"] oops`},
		{"fleetd's own", record{t: t0, unit: "fleetd", stream: Log}, "m1", "fleetd: ready",
			`<30>1 2026-01-02T03:04:05.000006Z m1 fleetd - log [flotilla@32473 unit="fleetd" machine="m1"] fleetd: ready`},
		{"escapes in SD, not in headers", record{t: t0, unit: `a"b]c\d.service`, stream: Stdout}, "my host", "x",
			`<30>1 2026-01-02T03:04:05.000006Z my_host a"b]c\d.service - stdout [flotilla@32473 unit="a\"b\]c\\d.service" machine="my host"] x`},
		{"empty machine and message", record{t: t0, unit: "u", stream: Stdout}, "", "",
			`<30>1 2026-01-02T03:04:05.000006Z - u - stdout [flotilla@32473 unit="u" machine=""] `},
	}
	for _, c := range cases {
		got := string(appendSyslog(nil, c.r, c.machine, []byte(c.msg)))
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestSyslogAppNameIs48Printable(t *testing.T) {
	long := strings.Repeat("x", 40) + "\tyyyyyyyyyyyyyyyyyyyy.service"
	got := string(appendSyslog(nil, record{t: t0, unit: long}, "m", nil))
	fields := strings.SplitN(got, " ", 5)
	app := fields[3]
	if len(app) != 48 || app != strings.Repeat("x", 40)+"_yyyyyyy" {
		t.Fatalf("APP-NAME %q (%d bytes), want the unit's first 48 bytes with the tab as _", app, len(app))
	}
	if !strings.Contains(got, `unit="`+long+`"`) {
		t.Fatalf("structured data lost the whole unit name: %s", got)
	}
}

func TestOctetCounted(t *testing.T) {
	b := appendOctetCounted([]byte("prev"), record{t: t0, unit: "u"}, "m", []byte("line with spaces"))
	b = b[len("prev"):]
	n, rest, ok := strings.Cut(string(b), " ")
	if !ok {
		t.Fatalf("no length: %q", b)
	}
	if l, err := strconv.Atoi(n); err != nil || l != len(rest) || !strings.HasPrefix(rest, "<30>1 ") {
		t.Fatalf("frame %q: length %s for a %d-byte record", b, n, len(rest))
	}
}

func TestJSONLine(t *testing.T) {
	msg := "quote \" back \\ tab \t nul \x00 bad \xff é"
	b := appendJSON(nil, record{t: t0, unit: "web.service", stream: Stderr}, "m1", []byte(msg))
	if b[len(b)-1] != '\n' {
		t.Fatalf("no newline: %q", b)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	want := map[string]string{"time": "2026-01-02T03:04:05.000006789Z", "machine": "m1", "unit": "web.service", "stream": "stderr",
		"message": strings.Replace(msg, "\xff", "\uFFFD", 1)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
}

func TestTrimLogPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"2026/12/05 18:34:59.123456 fleetd: ready\n": "fleetd: ready\n",
		"2026/12/05 18:34:59 fleetd: ready\n":        "fleetd: ready\n",
		"fleetd: ready\n":                            "fleetd: ready\n",
		"2026/12/05 xx:34:59 no":                     "2026/12/05 xx:34:59 no",
	} {
		if got := string(trimLogPrefix([]byte(in))); got != want {
			t.Errorf("trimLogPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
