package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// TestHalfClosedPut: a client that sends its PUT and then shuts down its
// writing side (as `curl -T`, shell `exec 3<>/dev/tcp` or a proxy may) still
// waits for the answer. net/http cancels the request's context when it reads
// EOF after the body, which used to fail the etcd write with 503 although the
// unit was sometimes stored. Now the unit is stored and the answer says so,
// for creating a unit, changing its desired state and destroying it.
func TestHalfClosedPut(t *testing.T) {
	e := newEnv(t)
	for i := range 5 { // the race was timing-dependent; several rounds catch it
		name := fmt.Sprintf("half%d.service", i)
		code, body := halfClosed(t, e.srv.Listener.Addr().String(), http.MethodPut, unitPath(name),
			js(schema.Unit{Options: service(), DesiredState: "loaded"}))
		u, got := e.getUnit(name)
		if code != http.StatusCreated || got != http.StatusOK {
			t.Fatalf("half-closed PUT %s: status %d (%s), then GET %d: want 201 and the unit stored", name, code, body, got)
		}
		if code, body = halfClosed(t, e.srv.Listener.Addr().String(), http.MethodPut, unitPath(name), `{"desiredState":"launched"}`); code != http.StatusNoContent {
			t.Fatalf("half-closed desired state %s: status %d (%s), want 204", name, code, body)
		}
		if u, _ = e.getUnit(name); u == nil || u.DesiredState != "launched" {
			t.Fatalf("after half-closed desired state: %+v, want launched", u)
		}
		if code, body = halfClosed(t, e.srv.Listener.Addr().String(), http.MethodDelete, unitPath(name), ""); code != http.StatusNoContent {
			t.Fatalf("half-closed DELETE %s: status %d (%s), want 204", name, code, body)
		}
		if _, got = e.getUnit(name); got != http.StatusNotFound {
			t.Fatalf("after half-closed DELETE: GET %d, want 404", got)
		}
	}
}

// halfClosed sends one request on a raw connection, closes the connection's
// writing side and reads the answer.
func halfClosed(t *testing.T, addr, method, path, body string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: flotilla\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		method, path, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
