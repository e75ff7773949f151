package native

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// realRuntime is a container runtime over a store holding imagetest's
// busybox image, with the real container init; it returns the image ref.
func realRuntime(t *testing.T) (*container.Runtime, string) {
	t.Helper()
	testenv.NeedRoot(t)
	bin, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	arch := filepath.Join(dir, "bb.tar")
	imagetest.WriteDockerArchive(t, imagetest.BusyboxImage(t), "test/busybox:1", arch)
	store, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	ref := "docker-archive:" + arch
	if _, err := store.Pull(context.Background(), ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, err := container.New(container.Config{Dir: filepath.Join(dir, "c"), Images: store, Logf: t.Logf, InitPath: bin.SandboxInit})
	if err != nil {
		t.Fatal(err)
	}
	return rt, ref
}

// TestContainerOneshot: a container unit with Type=oneshot (Quadlet allows
// it: podman run in the foreground) runs its container to the end during
// the start, is active (exited) with RemainAfterExit=, keeps nothing
// mounted, and fails on a non-zero exit.
func TestContainerOneshot(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	out := t.TempDir()
	startUnit(t, s, "job.service", "Type=oneshot\nRemainAfterExit=yes\n[Container]\nImage="+ref+
		"\nNetwork=none\nVolume="+out+":/out\nExec=/bin/sh -c 'sleep 0.2; echo done > /out/result'\n")
	waitState(t, s, "job.service", unit.ActiveActive, "exited", 30*time.Second)
	if b, err := os.ReadFile(filepath.Join(out, "result")); err != nil || string(b) != "done\n" {
		t.Fatalf("the oneshot container's output: %q, %v", b, err)
	}
	if mountedAt(t, "job.service/rootfs") {
		t.Error("an exited oneshot container's root is still mounted")
	}
	startUnit(t, s, "bad.service", "Type=oneshot\n[Container]\nImage="+ref+"\nNetwork=none\nExec=/bin/false\n")
	st := waitState(t, s, "bad.service", unit.ActiveFailed, "", 30*time.Second)
	if st.Reason != "exit-code 1" {
		t.Errorf("failed with reason %q, want exit-code 1", st.Reason)
	}
}

// mountedAt reports whether a mount point's path ends in suffix.
func mountedAt(t *testing.T, suffix string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasSuffix(f[4], suffix) {
			return true
		}
	}
	return false
}
