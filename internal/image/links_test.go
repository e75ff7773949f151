package image

import (
	"archive/tar"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/image/imagetest"
)

// tarDir writes dir as a tar at path, with extra entries appended and the
// names in skip left out.
func tarDir(t *testing.T, dir, path string, skip map[string]bool, extra ...imagetest.Entry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if skip[rel] || skip[strings.SplitN(rel, "/", 2)[0]] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = rel
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		h := e.Hdr
		h.Size = int64(len(e.Body))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.Body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOCIArchiveLinksRefused: an oci-archive whose blobs directory (or a
// blob in it) is a symlink used to read the blobs from the host, as the
// layout is then read by path; such an archive is refused, by name.
func TestOCIArchiveLinksRefused(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	host := filepath.Join(t.TempDir(), "host-layout") // "host files" the archive points at
	imagetest.WriteOCILayout(t, img, host, "1")
	for _, tc := range []struct {
		desc  string
		skip  map[string]bool
		extra []imagetest.Entry
	}{
		{"blobs is a symlink to the host", map[string]bool{"blobs": true},
			[]imagetest.Entry{imagetest.Symlink("blobs", filepath.Join(host, "blobs"))}},
		{"a blob is a symlink to the host", map[string]bool{"blobs/sha256/" + configBlob(t): true},
			[]imagetest.Entry{imagetest.Symlink("blobs/sha256/"+configBlob(t), filepath.Join(host, "blobs/sha256", configBlob(t)))}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			arch := filepath.Join(t.TempDir(), "evil.tar")
			tarDir(t, host, arch, tc.skip, tc.extra...)
			_, err := s.Pull(context.Background(), "oci-archive:"+arch, logf(t))
			if !errors.Is(err, errUnsafePath) || !strings.Contains(err.Error(), "symlink") || !strings.Contains(err.Error(), host) {
				t.Fatalf("pull: %v, want the archive refused naming the link", err)
			}
			t.Log(err)
			assertEmpty(t, filepath.Join(s.Dir(), "tmp"))
			assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
		})
	}
}

// configBlob is the hex digest of BusyboxImage's config blob.
func configBlob(t *testing.T) string {
	t.Helper()
	d, err := imagetest.BusyboxImage(t).ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.Hex
}

// topLayerBlob is the hex digest of BusyboxImage's top layer blob.
func topLayerBlob(t *testing.T) string {
	t.Helper()
	ls, err := imagetest.BusyboxImage(t).Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := ls[len(ls)-1].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.Hex
}

// TestOCILayoutLinks: symlinks in an oci: directory are refused by name,
// whether they lead outside it (blobs → /anywhere) or stay inside, and so
// is a FIFO; a plain layout pulls.
func TestOCILayoutLinks(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	cfg, layer := configBlob(t), topLayerBlob(t)
	for _, tc := range []struct {
		desc  string
		setup func(dir, outside string)
		want  string // "" = pulls
	}{
		{"plain layout", func(string, string) {}, ""},
		{"blobs/sha256 links outside", func(dir, outside string) {
			mv(t, filepath.Join(dir, "blobs/sha256"), filepath.Join(outside, "sha256"))
			os.Symlink(filepath.Join(outside, "sha256"), filepath.Join(dir, "blobs/sha256"))
		}, "blobs/sha256 is a symlink"},
		{"index.json links outside", func(dir, outside string) {
			mv(t, filepath.Join(dir, "index.json"), filepath.Join(outside, "index.json"))
			os.Symlink(filepath.Join(outside, "index.json"), filepath.Join(dir, "index.json"))
		}, "index.json is a symlink"},
		{"inside link to a file", func(dir, _ string) {
			mv(t, filepath.Join(dir, "blobs/sha256", layer), filepath.Join(dir, "store", layer))
			os.Symlink("../../store/"+layer, filepath.Join(dir, "blobs/sha256", layer))
		}, "is a symlink"},
		{"absolute link outside", func(dir, outside string) {
			mv(t, filepath.Join(dir, "blobs/sha256", cfg), filepath.Join(outside, cfg))
			os.Symlink(filepath.Join(outside, cfg), filepath.Join(dir, "blobs/sha256", cfg))
		}, "is a symlink"},
		{"relative link climbing out", func(dir, outside string) {
			mv(t, filepath.Join(dir, "blobs/sha256", layer), filepath.Join(outside, layer))
			rel, _ := filepath.Rel(filepath.Join(dir, "blobs/sha256"), filepath.Join(outside, layer))
			os.Symlink(rel, filepath.Join(dir, "blobs/sha256", layer))
		}, "is a symlink"},
		{"blobs links to a directory inside", func(dir, _ string) {
			mv(t, filepath.Join(dir, "blobs"), filepath.Join(dir, "real-blobs"))
			os.Symlink("real-blobs", filepath.Join(dir, "blobs"))
		}, "blobs is a symlink"},
		{"FIFO blob", func(dir, _ string) {
			p := filepath.Join(dir, "blobs/sha256", cfg)
			os.Remove(p)
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "files and directories only"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir, outside := filepath.Join(t.TempDir(), "layout"), t.TempDir()
			imagetest.WriteOCILayout(t, img, dir, "1")
			tc.setup(dir, outside)
			_, err := s.Pull(context.Background(), "oci:"+dir, logf(t))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errLayoutLink) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "oci:"+dir) {
				t.Fatalf("pull: %v, want a refusal naming the layout and %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestDockerArchiveLinksStayInside: go-containerregistry resolves a
// docker-archive's links among the tar's own entries, never on the host:
// a manifest.json that links to a real manifest on the host is not found.
func TestDockerArchiveLinksStayInside(t *testing.T) {
	s := newStore(t)
	img := imagetest.BusyboxImage(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	imagetest.WriteDockerArchive(t, img, "bb:1", good)
	unpacked := filepath.Join(dir, "unpacked")
	os.Mkdir(unpacked, 0o755)
	f, _ := os.Open(good)
	if _, err := unpackTar(f, unpacked, unpackOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	host := filepath.Join(dir, "host-manifest.json")
	mv(t, filepath.Join(unpacked, "manifest.json"), host)
	evil := filepath.Join(dir, "evil.tar")
	tarDir(t, unpacked, evil, nil, imagetest.Symlink("manifest.json", host))
	_, err := s.Pull(context.Background(), "docker-archive:"+evil, logf(t))
	if err == nil || !strings.Contains(err.Error(), "not found in tar") {
		t.Fatalf("pull: %v, want the linked manifest not found in the tar", err)
	}
}

func mv(t *testing.T, from, to string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(to), 0o755)
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
