package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	testenv.NeedRoot(t)
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func logf(t *testing.T) PullOptions {
	return PullOptions{Insecure: true, Progress: func(m string) { t.Log(m) }}
}

func diffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}

// checkBusybox checks a stored imagetest.BusyboxImage: files, symlinks,
// metadata, overlay whiteout and opaque formats, config.
func checkBusybox(t *testing.T, s *Store, got *Image, want v1.Image) {
	t.Helper()
	wantIDs := diffIDs(t, want)
	if len(got.Layers) != 2 || strings.Join(got.DiffIDs, ",") != strings.Join(wantIDs, ",") {
		t.Fatalf("layers %v diffIDs %v, want diffIDs %v", got.Layers, got.DiffIDs, wantIDs)
	}
	for i, l := range got.Layers {
		if want := filepath.Join(s.Dir(), "layers", "sha256", strings.TrimPrefix(wantIDs[i], "sha256:")); l != want {
			t.Errorf("layer %d dir %s, want %s", i, l, want)
		}
	}
	base, top := got.Layers[0], got.Layers[1]
	fi, err := os.Stat(filepath.Join(base, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Stat(imagetest.BusyboxPath)
	if fi.Size() != host.Size() || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: size %d mode %v, want %d 0755", fi.Size(), fi.Mode(), host.Size())
	}
	if !fi.ModTime().Equal(imagetest.Epoch) {
		t.Errorf("bin/busybox mtime %v, want %v", fi.ModTime(), imagetest.Epoch)
	}
	for _, a := range imagetest.Applets {
		if l, err := os.Readlink(filepath.Join(base, "bin", a)); err != nil || l != "busybox" {
			t.Errorf("bin/%s -> %q, %v; want busybox", a, l, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(base, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v %v, want sticky 0777", fi.Mode(), err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(top, "etc/hostname"), &st); err != nil {
		t.Fatalf("whiteout etc/hostname: %v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/hostname mode %o rdev %d, want char device 0/0", st.Mode, st.Rdev)
	}
	if _, err := os.Lstat(filepath.Join(top, "etc/.wh.hostname")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".wh.hostname stored as a file: %v", err)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(top, "etc/opq"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("etc/opq opaque xattr %q, %v; want y", buf[:n], err)
	}
	if b, err := os.ReadFile(filepath.Join(top, "etc/opq/c")); err != nil || string(b) != "c\n" {
		t.Errorf("etc/opq/c = %q, %v", b, err)
	}
	if got.LowerDir() != top+":"+base {
		t.Errorf("LowerDir %q, want top first", got.LowerDir())
	}
	c := got.Config
	if strings.Join(c.Cmd, " ") != "/bin/sh" || strings.Join(c.Env, " ") != "PATH=/bin" || c.WorkingDir != "/" ||
		strings.Join(c.ExposedPorts, ",") != "8080/tcp" {
		t.Errorf("config %+v", c)
	}
	if got.Size < host.Size() {
		t.Errorf("size %d < busybox %d", got.Size, host.Size())
	}
}

func TestPullRegistry(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	host := imagetest.ServeRegistry(t, map[string]v1.Image{"test/busybox:1": img})
	ref := host + "/test/busybox:1"
	got, err := s.Pull(context.Background(), ref, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != ref {
		t.Errorf("ref %q, want %q", got.Ref, ref)
	}
	if d, _ := img.Digest(); got.Digest != d.String() {
		t.Errorf("digest %s, want %s", got.Digest, d)
	}
	checkBusybox(t, s, got, img)
	again, err := s.Get(ref)
	if err != nil || again.Digest != got.Digest || again.LowerDir() != got.LowerDir() {
		t.Fatalf("Get: %+v, %v", again, err)
	}
	if l, err := s.List(); err != nil || len(l) != 1 || l[0].Ref != ref {
		t.Fatalf("List: %v, %v", l, err)
	}
	// By digest, too.
	byDigest, err := s.Pull(context.Background(), host+"/test/busybox@"+got.Digest, logf(t))
	if err != nil || byDigest.Digest != got.Digest {
		t.Fatalf("pull by digest: %+v, %v", byDigest, err)
	}
	if _, err := s.Get("docker.io/library/nothere:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing image: %v, want ErrNotFound", err)
	}
}

// TestOverlayRun stacks the pulled layers with overlayfs and runs the
// image's shell in it: the real check that whiteouts and opaque dirs have
// the format overlayfs expects.
func TestOverlayRun(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	arch := filepath.Join(t.TempDir(), "bb.tar")
	imagetest.WriteDockerArchive(t, img, "test/busybox:1", arch)
	got, err := s.Pull(context.Background(), "docker-archive:"+arch, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	w := t.TempDir()
	upper, work, merged := filepath.Join(w, "upper"), filepath.Join(w, "work"), filepath.Join(w, "merged")
	for _, d := range []string{upper, work, merged} {
		os.Mkdir(d, 0o755)
	}
	opts := "lowerdir=" + got.LowerDir() + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("needs overlayfs mounts (kernel module, not nested in a restrictive sandbox): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	cmd := exec.Command("/bin/sh", "-c", "cat /etc/motd; ls /etc/opq; test -e /etc/hostname && echo hostname-visible; echo ok")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: merged}
	cmd.Env = []string{"PATH=/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh in the image: %v\n%s", err, out)
	}
	if want := "flotilla test image\nc\nok\n"; string(out) != want {
		t.Errorf("in the container:\n%s\nwant:\n%s", out, want)
	}
}

// countBlobs wraps a registry handler, counting blob GETs by digest.
func countBlobs(counts *sync.Map) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i := strings.Index(r.URL.Path, "/blobs/"); i >= 0 && r.Method == http.MethodGet {
				v, _ := counts.LoadOrStore(r.URL.Path[i+len("/blobs/"):], new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestSharedLayerNotFetchedTwice(t *testing.T) {
	s := newStore(t)
	a := imagetest.BusyboxImage(t)
	b := imagetest.Image(t, imagetest.BusyboxConfig, imagetest.BusyboxBase(t), imagetest.Layer(t, imagetest.File("app", "b\n")))
	var counts sync.Map
	host := imagetest.ServeRegistryWith(t, map[string]v1.Image{"a:1": a, "b:1": b}, countBlobs(&counts))
	ia, err := s.Pull(context.Background(), host+"/a:1", logf(t))
	if err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	unix.Stat(filepath.Join(ia.Layers[0], "bin/busybox"), &before)
	var msgs []string
	ib, err := s.Pull(context.Background(), host+"/b:1", PullOptions{Insecure: true, Progress: func(m string) { msgs = append(msgs, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if ib.Layers[0] != ia.Layers[0] {
		t.Fatalf("base layer %s vs %s: not shared", ib.Layers[0], ia.Layers[0])
	}
	var after unix.Stat_t
	unix.Stat(filepath.Join(ib.Layers[0], "bin/busybox"), &after)
	if before.Ino != after.Ino {
		t.Error("base layer was unpacked again")
	}
	baseDigest, _ := a.Manifest()
	v, _ := counts.Load(baseDigest.Layers[0].Digest.String())
	if n := v.(*atomic.Int64).Load(); n != 1 {
		t.Errorf("base blob fetched %d times, want 1", n)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "already present") {
		t.Errorf("progress did not say the base layer was present: %q", msgs)
	}
}

func TestArchivesAndLayouts(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	dir := t.TempDir()
	dockerTar := filepath.Join(dir, "docker.tar")
	imagetest.WriteDockerArchive(t, img, "test/busybox:1", dockerTar)
	ociTar := filepath.Join(dir, "oci.tar")
	imagetest.WriteOCIArchive(t, img, ociTar, "1")
	ociDir := filepath.Join(dir, "layout")
	imagetest.WriteOCILayout(t, img, ociDir, "1")
	manifestDigest, _ := img.Digest()
	configDigest, _ := img.ConfigName()
	for _, tc := range []struct{ ref, norm, digest string }{
		{"docker-archive:" + dockerTar, "docker-archive:" + dockerTar, configDigest.String()},
		{"docker-archive:" + dockerTar + ":test/busybox:1", "docker-archive:" + dockerTar + ":test/busybox:1", configDigest.String()},
		{"oci-archive:" + ociTar, "oci-archive:" + ociTar, manifestDigest.String()},
		{"oci-archive:" + ociTar + ":1", "oci-archive:" + ociTar + ":1", manifestDigest.String()},
		{"oci:" + ociDir + ":1", "oci:" + ociDir + ":1", manifestDigest.String()},
		{"oci:" + ociDir, "oci:" + ociDir, manifestDigest.String()},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			got, err := s.Pull(context.Background(), tc.ref, logf(t))
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != tc.norm || got.Digest != tc.digest {
				t.Errorf("ref %s digest %s, want %s %s", got.Ref, got.Digest, tc.norm, tc.digest)
			}
			checkBusybox(t, s, got, img)
		})
	}
	if _, err := s.Pull(context.Background(), "oci:"+ociDir+":nope", logf(t)); err == nil || !strings.Contains(err.Error(), `no image tagged "nope"`) {
		t.Errorf("missing tag: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if len(ents) != 0 {
		t.Errorf("tmp not cleaned: %v", ents)
	}
}

func TestPlatform(t *testing.T) {
	s := newStore(t)
	arm := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.File("x", "arm")))
	cf, _ := arm.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture = "arm64"
	dir := t.TempDir()
	arch := filepath.Join(dir, "arm.tar")
	armImg := mustConfig(t, arm, cf)
	imagetest.WriteDockerArchive(t, armImg, "arm:1", arch)
	_, err := s.Pull(context.Background(), "docker-archive:"+arch, logf(t))
	if err == nil || !strings.Contains(err.Error(), "linux/arm64") || !strings.Contains(err.Error(), "linux/amd64 only") {
		t.Errorf("arm64 image: %v", err)
	}
	// An index with arm64 and amd64: amd64 is picked.
	amd := imagetest.BusyboxImage(t)
	layoutDir := filepath.Join(dir, "multi")
	writeIndexLayout(t, layoutDir, map[string]v1.Image{"arm64": armImg, "amd64": amd})
	got, err := s.Pull(context.Background(), "oci:"+layoutDir, logf(t))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := amd.Digest(); got.Digest != d.String() {
		t.Errorf("picked %s, want the amd64 image %s", got.Digest, d)
	}
	only := filepath.Join(dir, "armonly")
	writeIndexLayout(t, only, map[string]v1.Image{"arm64": armImg})
	if _, err := s.Pull(context.Background(), "oci:"+only, logf(t)); err == nil || !strings.Contains(err.Error(), "has no linux/amd64") {
		t.Errorf("arm-only index: %v", err)
	}
}

func TestAuth(t *testing.T) {
	s := newStore(t)
	t.Setenv("HOME", t.TempDir()) // no ~/.docker/config.json
	img := imagetest.BusyboxImage(t)
	host := imagetest.ServeRegistryWith(t, map[string]v1.Image{"private/bb:1": img}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "fleet" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ref := host + "/private/bb:1"
	_, err := s.Pull(context.Background(), ref, logf(t))
	if err == nil || !strings.Contains(err.Error(), "registry "+host+" refused") || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("anonymous pull: %v, want a refusal naming the registry", err)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	bad := `{"auths":{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("fleet:wrong")) + `"}}}`
	os.WriteFile(cfg, []byte(bad), 0o600)
	if _, err := s.Pull(context.Background(), ref, PullOptions{Insecure: true, DockerConfig: cfg}); err == nil || !strings.Contains(err.Error(), cfg) {
		t.Fatalf("wrong password: %v, want an error naming %s", err, cfg)
	}
	good := `{"auths":{"http://` + host + `/v2/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("fleet:s3cret")) + `"}}}`
	os.WriteFile(cfg, []byte(good), 0o600)
	got, err := s.Pull(context.Background(), ref, PullOptions{Insecure: true, DockerConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	checkBusybox(t, s, got, img)

	// A credential helper named by credHelpers (docker-credential-NAME get).
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\n[ \"$server\" = " + host + " ] || exit 1\necho '{\"Username\":\"fleet\",\"Secret\":\"s3cret\"}'\n"
	os.WriteFile(filepath.Join(bin, "docker-credential-flotest"), []byte(helper), 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	os.WriteFile(cfg, []byte(`{"credHelpers":{"`+host+`":"flotest"}}`), 0o600)
	s.Remove(ref)
	if _, err := s.Pull(context.Background(), ref, PullOptions{Insecure: true, DockerConfig: cfg}); err != nil {
		t.Fatalf("with a credential helper: %v", err)
	}
}

// flipWriter flips one byte of a response body at offset at.
type flipWriter struct {
	http.ResponseWriter
	off, at int
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if f.at >= f.off && f.at < f.off+len(b) {
		b = bytes.Clone(b)
		b[f.at-f.off] ^= 0xff
	}
	f.off += len(b)
	return f.ResponseWriter.Write(b)
}

func TestCorruptBlobRefused(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	m, _ := img.Manifest()
	bad := m.Layers[0].Digest.String()
	host := imagetest.ServeRegistryWith(t, map[string]v1.Image{"c:1": img}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/blobs/"+bad) && r.Method == http.MethodGet {
				w = &flipWriter{ResponseWriter: w, at: 5000}
			}
			h.ServeHTTP(w, r)
		})
	})
	_, err := s.Pull(context.Background(), host+"/c:1", logf(t))
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "layer 1/2") {
		t.Fatalf("corrupt blob: %v, want ErrDigestMismatch naming layer 1/2 and %s", err, bad)
	}
	t.Log(err)
	assertEmpty(t, filepath.Join(s.Dir(), "tmp"))
	assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
	if _, err := s.Get(host + "/c:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after a failed pull: %v", err)
	}
}

// TestDiffIDMismatchRefused: a docker-archive whose config promises other
// layer content.
func TestDiffIDMismatchRefused(t *testing.T) {
	s := newStore(t)
	img := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.File("a", "a")))
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	wrong := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	right := cf.RootFS.DiffIDs[0]
	cf.RootFS.DiffIDs[0] = wrong
	path := filepath.Join(t.TempDir(), "x.tar")
	imagetest.WriteDockerArchive(t, mustConfig(t, img, cf), "x:1", path)
	_, err := s.Pull(context.Background(), "docker-archive:"+path, logf(t))
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), wrong.String()) || !strings.Contains(err.Error(), right.String()) {
		t.Fatalf("got %v, want ErrDigestMismatch naming %s and %s", err, wrong, right)
	}
	assertEmpty(t, filepath.Join(s.Dir(), "tmp"))
	assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s holds %s after a failed pull", dir, e.Name())
	}
}

func TestDiskFull(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("needs tmpfs mounts: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 4<<20)
	rand.Read(big)
	img := imagetest.Image(t, v1.Config{}, imagetest.BusyboxBase(t),
		imagetest.Layer(t, imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: "big", Mode: 0o644}, Body: big}))
	arch := filepath.Join(t.TempDir(), "big.tar")
	imagetest.WriteDockerArchive(t, img, "big:1", arch)
	_, err = s.Pull(context.Background(), "docker-archive:"+arch, logf(t))
	if err == nil || !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "no space left on device (ENOSPC)") ||
		!strings.Contains(err.Error(), "layer 2/2") {
		t.Fatalf("pull onto a full disk: %v, want ENOSPC naming layer 2/2", err)
	}
	t.Log(err)
	assertEmpty(t, filepath.Join(dir, "tmp"))
	ids := diffIDs(t, img)
	ents, _ := os.ReadDir(filepath.Join(dir, "layers", "sha256"))
	for _, e := range ents {
		if "sha256:"+e.Name() != ids[0] {
			t.Errorf("layer %s left in the store; only the complete base layer may stay", e.Name())
		}
	}
}

func TestGC(t *testing.T) {
	s := newStore(t)
	a := imagetest.BusyboxImage(t)
	b := imagetest.Image(t, imagetest.BusyboxConfig, imagetest.BusyboxBase(t), imagetest.Layer(t, imagetest.File("app", "bb\n")))
	dir := t.TempDir()
	imagetest.WriteOCILayout(t, a, filepath.Join(dir, "a"), "1")
	imagetest.WriteOCILayout(t, b, filepath.Join(dir, "b"), "1")
	ia, err := s.Pull(context.Background(), "oci:"+filepath.Join(dir, "a"), logf(t))
	if err != nil {
		t.Fatal(err)
	}
	ib, err := s.Pull(context.Background(), "oci:"+filepath.Join(dir, "b"), logf(t))
	if err != nil {
		t.Fatal(err)
	}
	topSize := duContent(ia.Layers[1])
	freed, err := s.GC(func(img *Image) bool { return img.Ref == ib.Ref })
	if err != nil {
		t.Fatal(err)
	}
	if freed != topSize {
		t.Errorf("freed %d, want %d (a's top layer)", freed, topSize)
	}
	if _, err := os.Stat(ia.Layers[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's own layer survived GC: %v", err)
	}
	for _, l := range ib.Layers {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("b's layer %s removed: %v", l, err)
		}
	}
	if _, err := s.Get(ia.Ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("a still listed: %v", err)
	}
	if err := s.Remove(ib.Ref); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ib.Ref); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if freed, err := s.GC(nil); err != nil || freed != ib.Size {
		t.Errorf("GC after Remove freed %d, %v; want %d", freed, err, ib.Size)
	}
	assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
}

func TestConcurrentPull(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	host := imagetest.ServeRegistry(t, map[string]v1.Image{"c:1": img})
	s2, err := Open(s.Dir()) // a second handle, as another process would hold
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		st := s
		if i%2 == 1 {
			st = s2
		}
		wg.Go(func() { _, errs[i] = st.Pull(context.Background(), host+"/c:1", PullOptions{Insecure: true}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(host + "/c:1")
	if err != nil {
		t.Fatal(err)
	}
	checkBusybox(t, s, got, img)
}

func TestBadReferences(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"", "containers-storage:foo", "docker-archive:", "Bad/UPPER:tag", "x:1:2", "docker-archive:/x.tar:@0"} {
		_, err := s.Pull(context.Background(), ref, PullOptions{})
		if err == nil || !strings.Contains(err.Error(), "bad reference") || !strings.Contains(err.Error(), "accepted: ") ||
			!strings.Contains(err.Error(), "oci-archive:") {
			t.Errorf("Pull(%q): %v, want a bad-reference error listing the transports", ref, err)
		}
	}
	_, err = s.Pull(context.Background(), "127.0.0.1:1/x:1", PullOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "registry 127.0.0.1:1 unreachable") {
		t.Errorf("unreachable registry: %v", err)
	}
	for in, want := range map[string]string{
		"busybox":                            "docker.io/library/busybox:latest",
		"docker://docker.io/library/redis:7": "docker.io/library/redis:7",
		"index.docker.io/library/redis:7":    "docker.io/library/redis:7",
		"127.0.0.1:5000/x:1":                 "127.0.0.1:5000/x:1",
		"oci:/a/b:tag":                       "oci:/a/b:tag",
	} {
		p, err := parseRef(in, false)
		if err != nil || p.norm != want {
			t.Errorf("parseRef(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}
