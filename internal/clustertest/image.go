package clustertest

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxAll builds an image from Debian's busybox-static with every applet
// linked in /bin, a /www/index.html, and /etc/passwd and /etc/group with a
// user "app" (uid 1000). It skips the test without /bin/busybox.
func BusyboxAll(t testing.TB) v1.Image {
	t.Helper()
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skipf("needs Debian's busybox-static at %s (the setup script installs it): %v", busyboxPath, err)
	}
	img, err := BusyboxImage()
	must(t, err)
	return img
}

const busyboxPath = "/bin/busybox"

// BusyboxTag is the name the busybox archive carries, as docker save gives.
const BusyboxTag = "flotilla.local/busybox:latest"

// WriteBusyboxArchive writes BusyboxImage as a docker-archive tar at path,
// the file image-build --image bakes into a root (scripts/cluster.sh and
// the VM tests).
func WriteBusyboxArchive(path string) error {
	img, err := BusyboxImage()
	if err != nil {
		return err
	}
	tag, err := name.NewTag(BusyboxTag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// BusyboxImage is BusyboxAll's image, with an error naming the package when
// /bin/busybox is missing.
func BusyboxImage() (v1.Image, error) {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("busybox image: %w (install Debian's busybox-static)", err)
	}
	list, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busyboxPath, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	var errs []error
	dir := func(name string, mode int64) {
		errs = append(errs, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: mtime}))
	}
	file := func(name string, mode int64, data []byte) {
		errs = append(errs, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime}))
		_, err := tw.Write(data)
		errs = append(errs, err)
	}
	for _, d := range []string{"bin/", "etc/", "www/", "tmp/", "data/", "proc/", "sys/", "dev/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		dir(d, mode)
	}
	file("bin/busybox", 0o755, bb)
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		errs = append(errs, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", ModTime: mtime}))
	}
	file("www/index.html", 0o644, []byte("hello from flotilla\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/data:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\napp:x:1000:\n"))
	errs = append(errs, tw.Close())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("busybox image: %w", err)
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Env = []string{"PATH=/bin"}
	return mutate.ConfigFile(img, cf)
}

// ServeImages serves an in-process registry on addr (host:0 for a free
// port) holding imgs under their repo:tag names; it returns host:port.
func ServeImages(t testing.TB, addr string, imgs map[string]v1.Image) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	must(t, err)
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	host := l.Addr().String()
	for repo, img := range imgs {
		ref, err := name.ParseReference(host+"/"+repo, name.Insecure)
		must(t, err)
		must(t, remote.Write(ref, img))
	}
	return host
}
