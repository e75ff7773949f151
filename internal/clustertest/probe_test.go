package clustertest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The probe is this test binary re-executed (runc's helper-process way),
// usually as the unprivileged user nobody: it makes one HTTP request the
// way an attacker on the node would (any server certificate accepted, no
// client certificate unless given) and prints OPEN or REFUSED with why.
const (
	probeEnv     = "FLOTILLA_PROBE"      // "METHOD URL [BODY]" (unix:///path dials a socket) or "READ /file"
	probeCertEnv = "FLOTILLA_PROBE_CERT" // "cert.pem,key.pem": present a client certificate
)

func init() {
	if spec := os.Getenv(probeEnv); spec != "" {
		fmt.Println(probe(spec, os.Getenv(probeCertEnv)))
		os.Exit(0)
	}
}

func probe(spec, certFiles string) string {
	parts := strings.SplitN(spec, " ", 3)
	method, target, body := parts[0], parts[1], ""
	if method == "READ" {
		if _, err := os.ReadFile(target); err != nil {
			return "REFUSED " + err.Error()
		}
		return "OPEN read " + target
	}
	if len(parts) == 3 {
		body = parts[2]
	}
	tc := &tls.Config{InsecureSkipVerify: true}
	if certFiles != "" {
		cf, kf, _ := strings.Cut(certFiles, ",")
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			return "REFUSED (cannot read the certificate: " + err.Error() + ")"
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
	if sock, ok := strings.CutPrefix(target, "unix://"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
		target = "http://fleetd/fleet/v1/machines"
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		return "REFUSED (bad request: " + err.Error() + ")"
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "REFUSED " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 == 2 {
		return fmt.Sprintf("OPEN %d %s", resp.StatusCode, b)
	}
	return fmt.Sprintf("REFUSED %d %s", resp.StatusCode, b)
}

// Prober runs probes from a copy of the test binary that nobody can run.
type prober struct {
	t   *testing.T
	bin string
}

func newProber(t *testing.T) *prober {
	t.Helper()
	self, err := os.Executable()
	must(t, err)
	dir, err := os.MkdirTemp("", "flotilla-probe-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(self)
	must(t, err)
	bin := filepath.Join(dir, "probe")
	must(t, os.WriteFile(bin, b, 0o755))
	return &prober{t: t, bin: bin}
}

const nobody = 65534

// run probes spec as uid (0: root), presenting certFiles ("" for none).
func (p *prober) run(uid uint32, spec, certFiles string) string {
	p.t.Helper()
	cmd := exec.Command(p.bin)
	cmd.Env = []string{probeEnv + "=" + spec}
	if certFiles != "" {
		cmd.Env = append(cmd.Env, probeCertEnv+"="+certFiles)
	}
	cmd.Dir = "/"
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("probe %q as uid %d: %v\n%s", spec, uid, err, out)
	}
	return strings.TrimSpace(string(out))
}

// refused fails the test unless the probe, as nobody, is refused.
func (p *prober) refused(what, spec string, why ...string) {
	p.t.Helper()
	out := p.run(nobody, spec, "")
	if !strings.HasPrefix(out, "REFUSED") {
		p.t.Errorf("%s: a local user (nobody) got in: %s", what, out)
		return
	}
	for _, w := range why {
		if !strings.Contains(out, w) {
			p.t.Errorf("%s: refused, but not for %q: %s", what, w, out)
		}
	}
	p.t.Logf("%s as nobody: %s", what, out)
}

// open fails the test unless the probe, as root with certFiles, gets in:
// the control that shows the probe would see a door left open.
func (p *prober) open(what, spec, certFiles string) {
	p.t.Helper()
	if out := p.run(0, spec, certFiles); !strings.HasPrefix(out, "OPEN") {
		p.t.Errorf("%s: the control (root with the certificate) was refused: %s", what, out)
	}
}
