// Package imagetest builds small real container images for tests: a
// busybox image from the host's static busybox, an in-process registry on
// loopback, and docker-archive / OCI writers. It is a non-test package so
// that other packages' tests can use it.
package imagetest

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxPath is the static busybox the images are built from (Debian's
// busybox-static).
const BusyboxPath = "/bin/busybox"

// Applets are linked to busybox in /bin of BusyboxImage.
var Applets = []string{"sh", "true", "false", "sleep", "cat", "echo", "ls", "env", "id", "ps", "kill", "mkdir", "rm", "touch", "wget", "nc", "hostname", "ip", "mount", "test"}

// Entry is one tar entry of a test layer; Body is the content of a regular
// file (Hdr.Size is set from it).
type Entry struct {
	Hdr  tar.Header
	Body []byte
}

// Dir, File and Symlink build common entries with root ownership.
func Dir(name string) Entry {
	return Entry{Hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// File is a regular file entry with mode 0644.
func File(name, body string) Entry {
	return Entry{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, Body: []byte(body)}
}

// Symlink is a symlink entry.
func Symlink(name, target string) Entry {
	return Entry{Hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// Epoch is the mtime of entries that set none.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Tar returns entries as an uncompressed tar stream.
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = Epoch
		}
		if h.Format == tar.FormatUnknown && len(h.PAXRecords) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("imagetest: tar header %s: %v", h.Name, err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			t.Fatalf("imagetest: tar body %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("imagetest: tar: %v", err)
	}
	return buf.Bytes()
}

// Layer returns a gzip layer made of entries.
func Layer(t testing.TB, entries ...Entry) v1.Layer {
	t.Helper()
	b := Tar(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatalf("imagetest: layer: %v", err)
	}
	return l
}

// Image stacks layers (lowest first) into a linux/amd64 image with cfg.
func Image(t testing.TB, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatalf("imagetest: append layers: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("imagetest: config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: Epoch}
	cf.Config = cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatalf("imagetest: set config: %v", err)
	}
	return img
}

// BusyboxBase is the first layer of BusyboxImage: /bin/busybox, applet
// symlinks in /bin, /etc/passwd, /etc/group, /etc/hostname (removed by the
// second layer) and /etc/opq/{a,b} (hidden by the second layer's opaque
// marker).
func BusyboxBase(t testing.TB) v1.Layer {
	t.Helper()
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Skipf("imagetest: needs %s (Debian busybox-static): %v", BusyboxPath, err)
	}
	es := []Entry{
		Dir("bin/"),
		{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, Body: bb},
	}
	for _, a := range Applets {
		es = append(es, Symlink("bin/"+a, "busybox"))
	}
	es = append(es,
		Dir("etc/"),
		File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"),
		File("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
		File("etc/hostname", "busybox\n"),
		Dir("etc/opq/"),
		File("etc/opq/a", "a\n"),
		File("etc/opq/b", "b\n"),
		Entry{Hdr: tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}},
		Dir("root/"),
	)
	return Layer(t, es...)
}

// BusyboxTop is the second layer: a whiteout of /etc/hostname, an opaque
// /etc/opq holding only c, and /etc/motd.
func BusyboxTop(t testing.TB) v1.Layer {
	t.Helper()
	return Layer(t,
		Dir("etc/"),
		File("etc/.wh.hostname", ""),
		Dir("etc/opq/"),
		File("etc/opq/.wh..wh..opq", ""),
		File("etc/opq/c", "c\n"),
		File("etc/motd", "flotilla test image\n"),
	)
}

// BusyboxConfig is BusyboxImage's config.
var BusyboxConfig = v1.Config{
	Cmd:          []string{"/bin/sh"},
	Env:          []string{"PATH=/bin"},
	WorkingDir:   "/",
	ExposedPorts: map[string]struct{}{"8080/tcp": {}},
}

// BusyboxImage is a two-layer linux/amd64 image built from the host's
// static busybox: BusyboxBase then BusyboxTop, with BusyboxConfig.
func BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	return Image(t, BusyboxConfig, BusyboxBase(t), BusyboxTop(t))
}

// ServeRegistry starts an in-process registry on loopback, pushes imgs
// (keyed "repo:tag") and returns its "127.0.0.1:PORT".
func ServeRegistry(t testing.TB, imgs map[string]v1.Image) (host string) {
	t.Helper()
	return ServeRegistryWith(t, imgs, nil)
}

// ServeRegistryWith is ServeRegistry whose clients see the registry through
// wrap (nil = unwrapped): e.g. basic auth or corrupted blobs. Images are
// pushed around wrap.
func ServeRegistryWith(t testing.TB, imgs map[string]v1.Image, wrap func(http.Handler) http.Handler) (host string) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	push := httptest.NewServer(reg)
	defer push.Close()
	pushHost := strings.TrimPrefix(push.URL, "http://")
	for rt, img := range imgs {
		ref, err := name.ParseReference(pushHost + "/" + rt)
		if err != nil {
			t.Fatalf("imagetest: ref %s: %v", rt, err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("imagetest: push %s: %v", rt, err)
		}
	}
	h := http.Handler(reg)
	if wrap != nil {
		h = wrap(reg)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// WriteDockerArchive writes img as a `docker save` tarball tagged ref.
func WriteDockerArchive(t testing.TB, img v1.Image, ref, path string) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatalf("imagetest: ref %s: %v", ref, err)
	}
	if err := tarball.MultiRefWriteToFile(path, map[name.Reference]v1.Image{r: img}); err != nil {
		t.Fatalf("imagetest: docker archive %s: %v", path, err)
	}
}

// WriteOCILayout writes img into an OCI layout at dir, annotated with tag.
func WriteOCILayout(t testing.TB, img v1.Image, dir, tag string) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("imagetest: oci layout %s: %v", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatalf("imagetest: oci layout %s: %v", dir, err)
	}
}

// WriteOCIArchive writes img as a tar of an OCI layout (oci-archive:).
func WriteOCIArchive(t testing.TB, img v1.Image, path, tag string) {
	t.Helper()
	dir := t.TempDir()
	WriteOCILayout(t, img, dir, tag)
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("imagetest: %v", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name, _ = filepath.Rel(dir, p)
		if err := tw.WriteHeader(h); err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			_, err = tw.Write(b)
		}
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatalf("imagetest: oci archive %s: %v", path, err)
	}
}
