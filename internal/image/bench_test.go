package image

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// writeBenchLayer writes a ~100 MB layer tar: 5 incompressible 12 MiB
// files and 8000 small files (5 KiB) in 80 directories.
func writeBenchLayer(b *testing.B, path string) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, size int) {
		body := make([]byte, size)
		rand.Read(body)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(size), ModTime: imagetest.Epoch}); err != nil {
			b.Fatal(err)
		}
		tw.Write(body)
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "big/", Mode: 0o755, ModTime: imagetest.Epoch})
	for i := range 5 {
		add(fmt.Sprintf("big/blob%d", i), 12<<20)
	}
	for d := range 80 {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("small/d%02d/", d), Mode: 0o755, ModTime: imagetest.Epoch})
		for i := range 100 {
			add(fmt.Sprintf("small/d%02d/f%03d", d, i), 5<<10)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := f.Stat()
	return fi.Size()
}

// writeDockerSave writes a `docker save`-style archive whose layer is the
// uncompressed tar, as Docker itself writes them.
func writeDockerSave(b *testing.B, img v1.Image, layerTar, path string) {
	cfg, err := img.RawConfigFile()
	if err != nil {
		b.Fatal(err)
	}
	m, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{"bench:1"}, "Layers": []string{"layer.tar"}}})
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		body []byte
	}{{"config.json", cfg}, {"manifest.json", m}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.body))})
		tw.Write(e.body)
	}
	lf, err := os.Open(layerTar)
	if err != nil {
		b.Fatal(err)
	}
	defer lf.Close()
	fi, _ := lf.Stat()
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "layer.tar", Mode: 0o644, Size: fi.Size()})
	if _, err := io.Copy(tw, lf); err != nil {
		b.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUnpack100MB loads a ~100 MB layer through the store (from a
// gzip docker-archive as go-containerregistry writes it, and from an
// uncompressed `docker save` archive) and compares with `tar -x` of the
// same layer tar, with and without a sync. Throughput is of the
// uncompressed layer bytes.
func BenchmarkUnpack100MB(b *testing.B) {
	testenv.NeedRoot(b)
	testenv.NeedCommand(b, "tar")
	dir := b.TempDir()
	layerTar := filepath.Join(dir, "layer.tar")
	size := writeBenchLayer(b, layerTar)
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		b.Fatal(err)
	}
	img := imagetest.Image(b, v1.Config{}, layer)
	gzArchive := filepath.Join(dir, "gz.tar")
	imagetest.WriteDockerArchive(b, img, "bench:1", gzArchive)
	plainArchive := filepath.Join(dir, "plain.tar")
	writeDockerSave(b, img, layerTar, plainArchive)
	mb := float64(size) / 1e6

	pull := func(archive string) time.Duration {
		sdir := filepath.Join(dir, "store")
		defer os.RemoveAll(sdir)
		s, err := Open(sdir)
		if err != nil {
			b.Fatal(err)
		}
		exec.Command("sync").Run()
		start := time.Now()
		if _, err := s.Pull(context.Background(), "docker-archive:"+archive, PullOptions{}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	untar := func(sync bool) time.Duration {
		out := filepath.Join(dir, "untar")
		defer os.RemoveAll(out)
		os.Mkdir(out, 0o755)
		exec.Command("sync").Run()
		start := time.Now()
		if o, err := exec.Command("tar", "-xf", layerTar, "-C", out).CombinedOutput(); err != nil {
			b.Fatalf("tar -x: %v\n%s", err, o)
		}
		if sync {
			exec.Command("sync", "-f", out).Run()
		}
		return time.Since(start)
	}
	var gz, plain, tarX, tarSync time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		plain += pull(plainArchive)
		gz += pull(gzArchive)
		tarX += untar(false)
		tarSync += untar(true)
	}
	b.StopTimer()
	n := float64(b.N)
	rate := func(d time.Duration) float64 { return mb * n / d.Seconds() }
	b.ReportMetric(rate(plain), "store_MB/s")
	b.ReportMetric(rate(gz), "store_gzip_MB/s")
	b.ReportMetric(rate(tarX), "tar_MB/s")
	b.ReportMetric(rate(tarSync), "tar+sync_MB/s")
	b.ReportMetric(rate(plain)/rate(tarX), "store/tar")
	b.ReportMetric(rate(plain)/rate(tarSync), "store/tar+sync")
	b.ReportMetric(rate(gz)/rate(tarX), "store_gzip/tar")
}
