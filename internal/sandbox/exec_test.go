package sandbox_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// background starts s in a cgroup and returns its init's pid once the
// container has written /tmp/ready; the container is killed at cleanup.
func background(t *testing.T, s sandbox.Spec) (int, cgroups.Group) {
	t.Helper()
	g, err := cgroups.New(fmt.Sprintf("flotilla/exec-test-%d-%d.service", os.Getpid(), time.Now().UnixNano()), cgroups.Resources{TasksMax: 64})
	if err != nil {
		t.Skipf("needs cgroups: %v", err)
	}
	l, err := sandbox.Prepare(s)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	files := []uintptr{0, 2, 2}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	l.Sys.Pdeathsig = syscall.SIGKILL
	pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Files: files, Sys: l.Sys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		g.Kill()
		g.Delete()
	})
	if err := l.Started(pid); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(pid); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/root/tmp/ready", pid)); err == nil {
			return pid, g
		}
		if i > 500 {
			t.Fatal("the container did not write /tmp/ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// execIn runs args in the container as the unit manager's health check
// does, and returns its output and exit status.
func execIn(t *testing.T, s sandbox.Spec, pid int, g cgroups.Group, args ...string) (string, int) {
	t.Helper()
	l, err := sandbox.PrepareExec(s, pid, args)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	files := []uintptr{0, w.Fd(), w.Fd()}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	hp, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Files: files, Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Started(hp); err != nil {
		t.Fatal(err)
	}
	if g != nil {
		if err := g.Add(hp); err != nil {
			t.Fatal(err)
		}
	}
	rel := l.Release()
	out, _ := io.ReadAll(r)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(hp, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if rel != nil {
		return "release: " + rel.Error() + "\n" + string(out), ws.ExitStatus()
	}
	return string(out), ws.ExitStatus()
}

func hostStatus(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExecInContainer: a command run in a running container sees the
// container's namespaces, cgroup, files and hostname, with exactly its
// capabilities, ids, no_new_privs and seccomp filter: never less confined.
func TestExecInContainer(t *testing.T) {
	root := busyboxRootfs(t)
	caps := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := sandbox.Spec{Rootfs: root, Tmpfs: []sandbox.Tmpfs{{Target: "/tmp", Mode: "1777"}}, Hostname: "web-1", UID: 1000, GID: 1000, Groups: []uint32{1000},
		Capabilities: caps, Seccomp: filter(t, seccomp.Default(), caps),
		Args: []string{"sh", "-c", "echo inside > /tmp/marker; touch /tmp/ready; exec sleep 600"}}
	pid, g := background(t, s)
	script := `cat /proc/self/status; echo host=$(hostname); cat /tmp/marker; for n in ipc uts net pid mnt; do echo ns-$n=$(readlink /proc/self/ns/$n); done; echo cg=$(cat /proc/self/cgroup); echo ppid-visible=$(ls /proc | grep -c '^[0-9]')`
	out, code := execIn(t, s, pid, g, "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	init := hostStatus(t, pid)
	for _, f := range []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"} {
		if got, want := field(t, out, f), field(t, init, f); got != want {
			t.Errorf("%s: command %q, container init %q", f, got, want)
		}
	}
	for _, want := range []string{"host=web-1", "inside"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, n := range []string{"ipc", "uts", "net", "pid", "mnt"} {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, n))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "ns-"+n+"="+link) {
			t.Errorf("namespace %s: the command's is not the container's %s:\n%s", n, link, out)
		}
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if !strings.Contains(out, "cg="+strings.Join(strings.Fields(string(cg)), " ")) {
		t.Errorf("cgroup: want %q in:\n%s", strings.TrimSpace(string(cg)), out)
	}
	// Exit statuses pass through; a missing program is 127.
	if _, code := execIn(t, s, pid, g, "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exit 3: got %d", code)
	}
	if out, code := execIn(t, s, pid, g, "/bin/nonesuch"); code != 127 || !strings.Contains(out, "release: sandbox: exec /bin/nonesuch") {
		t.Errorf("missing program: got %d:\n%s", code, out)
	}
	// Not put in the container's cgroup: refused.
	if out, code := execIn(t, s, pid, nil, "true"); code == 0 || !strings.Contains(out, "cgroup") {
		t.Errorf("outside the cgroup: exit %d:\n%s", code, out)
	}
}

// TestExecInUserNSContainer: with a user namespace the command runs as the
// mapped host ids with no capabilities at all.
func TestExecInUserNSContainer(t *testing.T) {
	root := busyboxRootfs(t)
	s := sandbox.Spec{Rootfs: root, Tmpfs: []sandbox.Tmpfs{{Target: "/tmp", Mode: "1777"}}, UserNS: true, Args: []string{"sh", "-c", "touch /tmp/ready; exec sleep 600"}}
	pid, g := background(t, s)
	out, code := execIn(t, s, pid, g, "sh", "-c", "echo start >&2; cat /proc/self/status")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if uid := field(t, out, "Uid"); !strings.HasPrefix(uid, "100000") {
		t.Errorf("Uid %q, want the mapped host uid 100000", uid)
	}
	for _, f := range []string{"CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if v := field(t, out, f); v != "0000000000000000" {
			t.Errorf("%s = %s, want none", f, v)
		}
	}
	if field(t, out, "NoNewPrivs") != "1" {
		t.Error("no_new_privs not set")
	}
}
