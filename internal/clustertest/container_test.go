package clustertest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestContainers drives container units the way a user would, through the
// fleetctl binary, on a node that runs in its own network namespace (so its
// bridge and NAT rules never touch the host): an image pulled from an
// in-process registry, isolation seen from inside, cgroup limits seen from
// the host, an OOM kill reported, a bridge between two units, PublishPort
// from the host, a bad image failing fast, and a unit's writes gone with it.
func TestContainers(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	ns := NewNetns(t)
	host := ServeImages(t, ns.HostIP+":0", map[string]v1.Image{"test/busybox:1": BusyboxAll(t)})
	c := New(t, 1, 0)
	c.EnableTLS(ns.HostIP, ns.NsIP)
	node := c.Nodes[0]
	node.Netns, node.Host = ns.Name, ns.NsIP
	node.Extra = []string{"--bridge-subnet", "10.89.0.0/24", "--insecure-registry", host}
	c.StartAll()
	ref := host + "/test/busybox:1"

	out := c.MustFleetctl("pull", ref)
	if !strings.Contains(out, "Pulled") {
		t.Fatalf("pull: %s", out)
	}
	if out := c.MustFleetctl("images", "--no-legend"); !strings.Contains(out, ref) {
		t.Fatalf("images lists %q, want %s", out, ref)
	}

	t.Run("isolation", func(t *testing.T) {
		c.WriteUnit("iso.service", fmt.Sprintf(`[Container]
Image=%s
HostName=iso-host
Exec=/bin/sh -c 'echo pid=$$$$ end; echo host=$(hostname); grep -c . /proc/mounts; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; echo ready; exec sleep 1000'
[Service]
MemoryMax=64M
TasksMax=32
`, ref))
		c.MustFleetctl("start", "iso.service")
		log := waitJournal(t, c, "iso.service", "ready")
		for _, want := range []string{"pid=1 end", "host=iso-host", "NoNewPrivs:\t1", "CapEff:\t00000000a80425fb"} {
			if !strings.Contains(log, want) {
				t.Errorf("inside the container: want %q in\n%s", want, log)
			}
		}
		mem := readCgroup(t, "memory", "iso.service", "memory.limit_in_bytes", "memory.max")
		if mem != fmt.Sprint(64<<20) {
			t.Errorf("memory limit on the unit's cgroup is %q, want %d", mem, 64<<20)
		}
		if pids := readCgroup(t, "pids", "iso.service", "pids.max", "pids.max"); pids != "32" {
			t.Errorf("pids limit on the unit's cgroup is %q, want 32", pids)
		}
	})

	t.Run("devices and UserNS=auto", func(t *testing.T) {
		// Issue 17: with CAP_MKNOD, a node for a host disk made in /dev
		// must not open; AddDevice= adds exactly its device.
		_, major, minor := testenv.LoopDevice(t, "FLOTILLA-SECRET")
		c.WriteUnit("dev.service", fmt.Sprintf(`[Container]
Image=%s
AddDevice=/dev/fuse
AddDevice=-/dev/no-such-device
Exec=/bin/sh -c 'mknod /dev/disk b %d %d && echo made; head -c 15 /dev/disk; (exec 3<>/dev/fuse) && echo fuse-opens; echo ready; exec sleep 1000'
`, ref, major, minor))
		c.MustFleetctl("start", "dev.service")
		log := waitJournal(t, c, "dev.service", "ready")
		if strings.Contains(log, "FLOTILLA-SECRET") || !strings.Contains(log, "Operation not permitted") || !strings.Contains(log, "fuse-opens") {
			t.Errorf("want the disk refused and /dev/fuse opening:\n%s", log)
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/devices/flotilla/dev.service/devices.list"); err == nil { // v1
			if list := string(b); strings.Contains(list, "a *:* rwm") || !strings.Contains(list, "c 10:229 rwm") {
				t.Errorf("the unit's devices.list:\n%s", list)
			}
		}
		c.WriteUnit("userns.service", fmt.Sprintf("[Container]\nImage=%s\nUserNS=auto\nExec=/bin/sh -c 'id; cat /proc/self/uid_map; echo ready; exec sleep 1000'\n", ref))
		c.MustFleetctl("start", "userns.service")
		log = waitJournal(t, c, "userns.service", "ready")
		if !strings.Contains(log, "uid=0(root)") || !strings.Contains(strings.Join(strings.Fields(log), " "), "0 100000 65536") {
			t.Errorf("UserNS=auto container:\n%s", log)
		}
		c.MustFleetctl("destroy", "dev.service", "userns.service")
	})

	t.Run("oom kill is reported", func(t *testing.T) {
		c.WriteUnit("oom.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'head -c 200m /dev/zero | tail'\n[Service]\nMemoryMax=16M\n", ref))
		c.MustFleetctl("start", "--no-block", "oom.service")
		waitState(t, c, "oom.service", func(active, reason string) bool { return active == "failed" && strings.Contains(reason, "oom") })
	})

	t.Run("bad image fails fast", func(t *testing.T) {
		c.WriteUnit("bad.service", "[Container]\nImage="+host+"/no/such:1\n[Service]\nRestart=always\n")
		c.MustFleetctl("start", "--no-block", "bad.service")
		waitState(t, c, "bad.service", func(active, reason string) bool { return active == "failed" && strings.Contains(reason, "no/such") })
	})

	t.Run("bridge, PublishPort and writes gone on destroy", func(t *testing.T) {
		// web's bridge address is on its host-side veth (netbridge's alias).
		shared := filepath.Join(c.Dir, "shared")
		must(t, os.MkdirAll(shared, 0o755))
		c.WriteUnit("web.service", fmt.Sprintf("[Container]\nImage=%s\nVolume=%s:/shared\nExec=/bin/sh -c 'echo mine > /data/written; echo from-web > /shared/note; exec httpd -f -p 80 -h /www'\nPublishPort=8080:80\n", ref, shared))
		c.MustFleetctl("start", "web.service")
		webIP := vethIP(t, ns.Name, "web.service")
		c.WriteUnit("client.service", fmt.Sprintf("[Container]\nImage=%s\nVolume=%s:/shared:ro\nExec=/bin/sh -c 'cat /shared/note; while :; do wget -q -O- http://%s/index.html; sleep 0.5; done'\n", ref, shared, webIP))
		c.MustFleetctl("start", "client.service")
		log := waitJournal(t, c, "client.service", "hello from flotilla")
		if !strings.Contains(log, "from-web") {
			t.Errorf("client did not read web's note through the shared volume:\n%s", log)
		}

		if err := testutil.Eventually(10*time.Second, func() error {
			resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + net.JoinHostPort(ns.NsIP, "8080") + "/index.html")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), "hello from flotilla") {
				return fmt.Errorf("published port answered %q", b)
			}
			return nil
		}); err != nil {
			t.Errorf("PublishPort 8080:80 from the host: %v", err)
		}

		upper := filepath.Join(node.DataDir, "containers", "units", "web.service", "upper", "data", "written")
		if _, err := os.Stat(upper); err != nil {
			t.Fatalf("the unit's write is not in its upper dir: %v", err)
		}
		c.MustFleetctl("destroy", "web.service")
		if err := testutil.Eventually(20*time.Second, func() error { // httpd ignores SIGTERM as PID 1: killed after 10 s
			if _, err := os.Stat(upper); err == nil {
				return fmt.Errorf("%s still exists", upper)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if out := c.MustFleetctl("images", "--no-legend"); !strings.Contains(out, ref) {
			t.Errorf("the image went with the unit: images lists %q", out)
		}
	})
}

func waitJournal(t *testing.T, c *Cluster, unit, want string) string {
	t.Helper()
	var out string
	if err := testutil.Eventually(30*time.Second, func() error {
		var errOut string
		var err error
		out, errOut, err = c.Fleetctl("journal", "--lines", "50", unit)
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("journal of %s lacks %q:\n%s", unit, want, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitState(t *testing.T, c *Cluster, unit string, ok func(active, reason string) bool) {
	t.Helper()
	if err := testutil.Eventually(60*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, s := range st[unit] {
			if ok(s.SystemdActiveState, s.Reason) {
				return nil
			}
		}
		return fmt.Errorf("%s: states %+v", unit, st[unit])
	}); err != nil {
		t.Fatal(err)
	}
}

// readCgroup reads a limit of the unit's cgroup: v1 file under the
// controller's hierarchy, or the v2 file.
func readCgroup(t *testing.T, controller, unit, v1file, v2file string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", controller, "flotilla", unit, v1file),
		filepath.Join("/sys/fs/cgroup/flotilla", unit, v2file),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Errorf("no %s cgroup file for %s", controller, unit)
	return ""
}

// vethIP finds the bridge address of unit from its host-side veth's alias.
func vethIP(t *testing.T, netns, unit string) string {
	t.Helper()
	var ip string
	if err := testutil.Eventually(10*time.Second, func() error {
		out, err := exec.Command("ip", "-n", netns, "-o", "link", "show").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, "unit="+unit) {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "ip="); ok {
					ip = v
					return nil
				}
			}
		}
		return fmt.Errorf("no veth of %s in:\n%s", unit, out)
	}); err != nil {
		t.Fatal(err)
	}
	return ip
}
