package fleetd

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogForwardFlag: --log-forward repeats, and a bad value is refused
// at start naming the flag; a CA file that cannot be read is refused when
// fleetd starts forwarding, before anything else.
func TestLogForwardFlag(t *testing.T) {
	c, err := ParseFlags([]string{"--log-forward", "syslog+udp://10.0.0.5", "--log-forward", "json+tcp://10.0.0.5:5170?buffer=64k"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LogForward) != 2 || c.LogForward[0].Name() != "syslog+udp://10.0.0.5:514" || c.LogForward[1].Buffer != 64<<10 {
		t.Fatalf("LogForward %+v", c.LogForward)
	}
	for args, want := range map[string]string{
		"syslog://h":                        `fleetd: --log-forward: log forward destination "syslog://h": unknown protocol "syslog"`,
		"json+tcp://h":                      "json+tcp needs a port",
		"syslog+udp://h syslog+udp://h:514": "given twice",
		"syslog+tcp://h?ca=/etc/ca.pem":     "ca= is only for syslog+tls",
	} {
		var a []string
		for _, v := range strings.Fields(args) {
			a = append(a, "--log-forward", v)
		}
		if _, err := ParseFlags(a, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--log-forward %s: %v, want %q", args, err, want)
		}
	}
	missing := filepath.Join(t.TempDir(), "ca.pem")
	c, err = ParseFlags([]string{"--log-forward", "syslog+tls://h?ca=" + missing}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startLogForward(c, log.New(io.Discard, "", 0)); err == nil || !strings.Contains(err.Error(), "fleetd: --log-forward") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("unreadable CA: %v", err)
	}
	os.WriteFile(missing, []byte("not PEM"), 0o644)
	if _, err := startLogForward(c, log.New(io.Discard, "", 0)); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Fatalf("CA without PEM: %v", err)
	}
}
