package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// sparseTar is a tar holding one GNU PAX sparse (format 0.1) entry name of
// realSize bytes, of which one byte is stored: about 3 KB that archive/tar
// expands to realSize bytes. Go's tar.Writer drops GNU.sparse records, so
// the headers are written by hand.
func sparseTar(name string, realSize int64) []byte {
	header := func(name string, typ byte, size int64) []byte {
		h := make([]byte, 512)
		copy(h[0:], name)
		copy(h[100:], "0000644\x00")
		copy(h[108:], "0000000\x00")
		copy(h[116:], "0000000\x00")
		copy(h[124:], fmt.Sprintf("%011o\x00", size))
		copy(h[136:], fmt.Sprintf("%011o\x00", imagetest.Epoch.Unix()))
		h[156] = typ
		copy(h[257:], "ustar\x0000")
		copy(h[148:], "        ")
		sum := 0
		for _, b := range h {
			sum += int(b)
		}
		copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
		return h
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	record := func(k, v string) string {
		n := len(k) + len(v) + 3
		for {
			s := fmt.Sprintf("%d %s=%s\n", n, k, v)
			if len(s) == n {
				return s
			}
			n = len(s)
		}
	}
	var recs string
	for _, kv := range [][2]string{{"GNU.sparse.major", "0"}, {"GNU.sparse.minor", "1"}, {"GNU.sparse.name", name},
		{"GNU.sparse.size", fmt.Sprint(realSize)}, {"GNU.sparse.numblocks", "1"}, {"GNU.sparse.map", "0,1"}} {
		recs += record(kv[0], kv[1])
	}
	var out []byte
	out = append(out, header("PaxHeaders/"+name, 'x', int64(len(recs)))...)
	out = append(out, pad([]byte(recs))...)
	out = append(out, header("GNUSparseFile.0/"+name, '0', 1)...)
	out = append(out, pad([]byte{1})...)
	return append(out, make([]byte, 1024)...)
}

// rawLayer is a gzip layer of the tar stream b, as is.
func rawLayer(t *testing.T, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pullBomb pulls an OCI layout of one layer made of b with o and checks the
// pull failed with want, naming the image and the layer, and left nothing.
func pullBomb(t *testing.T, b []byte, o PullOptions, want error, fragments ...string) {
	t.Helper()
	s := newStore(t)
	dir := filepath.Join(t.TempDir(), "bomb")
	imagetest.WriteOCILayout(t, imagetest.Image(t, v1.Config{}, rawLayer(t, b)), dir, "1")
	o.Progress = func(m string) { t.Log(m) }
	_, err := s.Pull(context.Background(), "oci:"+dir, o)
	if !errors.Is(err, want) {
		t.Fatalf("pull: %v, want %v", err, want)
	}
	for _, f := range append([]string{"oci:" + dir, "layer 1/1"}, fragments...) {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %q", err, f)
		}
	}
	t.Log(err)
	assertEmpty(t, filepath.Join(s.Dir(), "tmp"))
	assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
}

// TestSparseEntryBomb: a 3 KB tar entry that expands to 64 MiB (archive/tar
// expands GNU sparse files, holes as zeros) counts at 64 MiB, and is refused
// before a byte is written when the bound is lower.
func TestSparseEntryBomb(t *testing.T) {
	pullBomb(t, sparseTar("bomb", 64<<20), PullOptions{MaxLayerSize: 16 << 20}, ErrTooLarge,
		"/bomb", "67108864", "more than the 16777216 allowed", "MaxLayerSize")
}

// TestSparseRatioBomb: with the default bounds, a sparse entry of 300 MiB
// from a few KB is refused by the compression ratio.
func TestSparseRatioBomb(t *testing.T) {
	pullBomb(t, sparseTar("bomb", 300<<20), PullOptions{}, ErrTooLarge, "/bomb", "ratio above the 250", "MaxRatio")
}

// TestTarTailBomb: zeros after the tar's end marker are read (the diffID
// covers them) and count against the bound too.
func TestTarTailBomb(t *testing.T) {
	b := append(imagetest.Tar(t, imagetest.File("a", "x")), make([]byte, 4<<20)...)
	pullBomb(t, b, PullOptions{MaxLayerSize: 1 << 20}, ErrTooLarge, "tar stream passed", "MaxLayerSize")
}

// TestDefaultBounds: without options a 1 TiB entry is refused by the layer
// size bound (pure: nothing is written).
func TestDefaultBounds(t *testing.T) {
	b := PullOptions{MinFree: -1}.budget(func() int64 { return 1 << 40 })
	if err := b.reserve("big", DefaultMaxLayerSize); err != nil {
		t.Fatalf("a layer of exactly the default bound: %v", err)
	}
	if err := b.reserve("more", 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte past the default bound: %v, want ErrTooLarge", err)
	}
}

// TestMinFree: a layer that would leave less than MinFree on the store's
// filesystem is refused (as ENOSPC, before it is written) and nothing
// partial is left.
func TestMinFree(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("needs tmpfs mounts: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 3<<20)
	rand.Read(body)
	img := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.File("small", "x")), imagetest.Layer(t, imagetest.File("three-mib", string(body))))
	arch := filepath.Join(t.TempDir(), "img.tar")
	imagetest.WriteDockerArchive(t, img, "img:1", arch)
	o := logf(t)
	o.MinFree = 6 << 20
	_, err = s.Pull(context.Background(), "docker-archive:"+arch, o)
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "layer 2/2") || !strings.Contains(err.Error(), "/three-mib") ||
		!strings.Contains(err.Error(), "less than the 6291456 kept free") {
		t.Fatalf("pull: %v, want ENOSPC naming layer 2/2, the file and the reserve", err)
	}
	t.Log(err)
	assertEmpty(t, filepath.Join(dir, "tmp"))
	if ents, _ := os.ReadDir(filepath.Join(dir, "layers", "sha256")); len(ents) != 1 {
		t.Errorf("layers after the refusal: %v, want only the small one", ents)
	}
}
