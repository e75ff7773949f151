//go:build linux

package netbridge

// Helpers for the root tests. Every network change happens inside
// namespaces created here; code runs in them on goroutines locked to a
// thread that is switched into the namespace and never switched back (the
// runtime discards a thread whose goroutine exits locked), so no other
// goroutine ever runs in a test namespace by accident.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

var nsSeq atomic.Int32

type testNS struct {
	name string
	h    netns.NsHandle
}

// newNS creates a named netns with lo up, deleted when the test ends.
func newNS(t *testing.T, role string) *testNS {
	t.Helper()
	name := fmt.Sprintf("fltt-%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return &testNS{name: name, h: h}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs f on a fresh OS thread switched into h.
func inNS(h netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		host, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer host.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		if cur, err := netns.Get(); err != nil || cur.Equal(host) {
			errc <- fmt.Errorf("still in the original netns after setns (%v)", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// container is a sleeping process in a new, empty network namespace.
type container struct {
	pid int
	h   netns.NsHandle
	cmd *exec.Cmd
}

func startContainer(t *testing.T) *container {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start container: %v", err)
	}
	c := &container{pid: cmd.Process.Pid, cmd: cmd}
	t.Cleanup(c.kill)
	h, err := netns.GetFromPid(c.pid)
	if err != nil {
		t.Fatalf("netns of %d: %v", c.pid, err)
	}
	c.h = h
	return c
}

// kill ends the process and drops our reference to its netns, so the
// kernel destroys the namespace (and the veth pair with it).
func (c *container) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	if c.h.IsOpen() {
		c.h.Close()
	}
}

// serve listens on addr inside h and answers each connection with
// "label remote-addr\n", so the dialer learns who answered and what source
// address that end saw.
func serve(t *testing.T, h netns.NsHandle, label, addr string) {
	t.Helper()
	var l net.Listener
	if err := inNS(h, func() (err error) { l, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, label, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", label, c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
}

// ask dials addr from inside h and returns the server's label and the
// source address it saw.
func ask(h netns.NsHandle, addr string) (label, seen string, err error) {
	var c net.Conn
	if err := inNS(h, func() (err error) { c, err = net.DialTimeout("tcp4", addr, 2*time.Second); return err }); err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", fmt.Errorf("read from %s: %w", addr, err)
	}
	label, seen, _ = strings.Cut(strings.TrimSpace(line), " ")
	return label, seen, nil
}
