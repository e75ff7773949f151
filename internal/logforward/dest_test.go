package logforward

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want Destination
	}{
		{"syslog+udp://10.0.0.1", Destination{SyslogUDP, "10.0.0.1:514", "", DefaultBuffer}},
		{"syslog+tcp://logs.example:1514", Destination{SyslogTCP, "logs.example:1514", "", DefaultBuffer}},
		{"syslog+tls://logs.example?ca=/etc/ca.pem&buffer=64k", Destination{SyslogTLS, "logs.example:6514", "/etc/ca.pem", 64 << 10}},
		{"json+tcp://[::1]:5170?buffer=2m", Destination{JSONTCP, "[::1]:5170", "", 2 << 20}},
		{"SYSLOG+UDP://h:514/", Destination{SyslogUDP, "h:514", "", DefaultBuffer}},
	}
	for _, c := range good {
		d, err := Parse(c.in)
		if err != nil || d != c.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.in, d, err, c.want)
		}
	}
	bad := map[string]string{
		"":                                   "unknown protocol",
		"udp://h:514":                        "unknown protocol",
		"syslog://h":                         "unknown protocol",
		"json+tcp://h":                       "needs a port",
		"syslog+tcp://:514":                  "no host",
		"syslog+tcp://h:0":                   "bad port",
		"syslog+tcp://h:70000":               "bad port",
		"syslog+tcp://h:":                    "empty port",
		"syslog+tcp://u@h":                   "only PROTOCOL",
		"syslog+tcp://h/path":                "only PROTOCOL",
		"syslog+tcp://h?ca=/ca.pem":          "only for syslog+tls",
		"syslog+tls://h?ca=ca.pem":           "absolute",
		"syslog+tls://h?ca=/a/../ca.pem":     "absolute, clean",
		"syslog+tcp://h?buffer=1":            "buffer=",
		"syslog+tcp://h?buffer=65m":          "buffer=",
		"syslog+tcp://h?buffer=1k&buffer=2k": "given 2 times",
		"syslog+tcp://h?level=info":          "unknown option",
	}
	for in, want := range bad {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestParseAll(t *testing.T) {
	if _, err := ParseAll([]string{"syslog+udp://h", "syslog+udp://h:514"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same destination twice: %v", err)
	}
	many := make([]string, MaxDestinations+1)
	for i := range many {
		many[i] = "syslog+udp://h" + strings.Repeat("x", i)
	}
	if _, err := ParseAll(many); err == nil {
		t.Error("more than MaxDestinations accepted")
	}
	if ds, err := ParseAll(nil); err != nil || ds != nil {
		t.Errorf("ParseAll(nil) = %v, %v", ds, err)
	}
}

// FuzzParse: Parse never panics, and what it accepts prints (String) as a
// destination that parses back to the same value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"syslog+udp://10.0.0.1", "syslog+tls://h?ca=/etc/ca.pem&buffer=64k",
		"json+tcp://[::1]:5170?buffer=2m", "syslog+tcp://h:", "syslog+tcp://u@h/p#f", "json+tcp://h:1?ca=/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "log forward destination ") {
				t.Fatalf("error without its context: %v", err)
			}
			return
		}
		if d.Buffer < MinBuffer || d.Buffer > MaxBuffer || d.Addr == "" {
			t.Fatalf("Parse(%q) accepted %+v", s, d)
		}
		d2, err := Parse(d.String())
		if err != nil || d2 != d {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", s, d, d.String(), d2, err)
		}
	})
}
