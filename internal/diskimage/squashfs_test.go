package diskimage

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func squashTree(t *testing.T) (*Tree, map[string][]byte) {
	tr, want := testTree(t)
	for _, err := range []error{
		tr.AddSymlink("bin/sh", "/bbin/elvish"),                               // dangling on the host
		tr.AddSymlink("etc/ssl/cert.pem", "certs/ca.pem"),                     // dangling, relative
		tr.AddSymlink("etc/mtab", "/proc/self/mounts"),                        // exists on the host
		tr.AddBytes("bin/suid", []byte("#!/bin/true\n"), fs.ModeSetuid|0o755), // setuid survives
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want["bin/suid"] = []byte("#!/bin/true\n")
	return tr, want
}

func TestSquashfs(t *testing.T) {
	testenv.NeedCommand(t, "mksquashfs")
	testenv.NeedCommand(t, "unsquashfs")
	t.Setenv("SOURCE_DATE_EPOCH", "12345") // must not reach mksquashfs
	tr, want := squashTree(t)
	dir := t.TempDir()
	for _, c := range []Compression{Gzip, Xz, Zstd} {
		t.Run(string(c), func(t *testing.T) {
			img := filepath.Join(dir, string(c)+".sqfs")
			size, err := SquashfsWith(tr, img, testEpoch, SquashfsOptions{Compression: c, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(img); err != nil || fi.Size() != size || size%4096 != 0 {
				t.Fatalf("size %d, stat %v %v", size, fi, err)
			}
			sb := run(t, "unsquashfs", "-s", img)
			for _, w := range []string{"Compression " + string(c), "Block size 131072", "Tue Nov 14 22:13:20 2023"} {
				if !strings.Contains(sb, w) {
					t.Errorf("unsquashfs -s lacks %q:\n%s", w, sb)
				}
			}
			ll := run(t, "unsquashfs", "-ll", "-d", "", img)
			for _, w := range []string{
				"drwxr-xr-x root/root",
				"-rwxr-xr-x root/root            307323 2023-11-14 22:13 /bin/fleetd",
				"-rwsr-xr-x root/root                12 2023-11-14 22:13 /bin/suid",
				"lrwxrwxrwx root/root                12 2023-11-14 22:13 /bin/sh -> /bbin/elvish",
				"lrwxrwxrwx root/root                12 2023-11-14 22:13 /etc/ssl/cert.pem -> certs/ca.pem",
				"lrwxrwxrwx root/root                17 2023-11-14 22:13 /etc/mtab -> /proc/self/mounts",
				"-r--r--r-- root/root                 2 2023-11-14 22:13 /etc/flotilla/slot",
				"-rw------- root/root                 0 2023-11-14 22:13 /etc/empty",
				"drwxrwxrwt root/root",
				"drwx------ root/root                 3 2023-11-14 22:13 /var",
			} {
				if !strings.Contains(ll, w) {
					t.Errorf("unsquashfs -ll lacks %q:\n%s", w, ll)
				}
			}
			if n := strings.Count(ll, "\n"); n != 17 {
				t.Errorf("unsquashfs -ll lists %d lines, want 17 (root + 16 entries):\n%s", n, ll)
			}
			out := filepath.Join(t.TempDir(), "x")
			run(t, "unsquashfs", "-no-xattrs", "-d", out, img)
			for p, b := range want {
				got, err := os.ReadFile(filepath.Join(out, p))
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s: content differs (%d bytes, want %d; %v)", p, len(got), len(b), err)
				}
			}

			again := filepath.Join(t.TempDir(), "again.sqfs")
			if _, err := SquashfsWith(tr, again, testEpoch, SquashfsOptions{Compression: c}); err != nil {
				t.Fatal(err)
			}
			sameFile(t, img, again)
		})
	}
}

// TestSquashfsMount checks the kernel reads what we write (a loop mount is
// fine in a test; only the build avoids loops).
func TestSquashfsMount(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mksquashfs")
	tr, want := squashTree(t)
	img := filepath.Join(t.TempDir(), "root.sqfs")
	if _, err := Squashfs(tr, img, testEpoch); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	run(t, "mount", "-t", "squashfs", "-o", "loop,ro", img, mnt)
	defer run(t, "umount", mnt)
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: content differs (%d bytes, want %d; %v)", p, len(got), len(b), err)
		}
	}
	if l, err := os.Readlink(filepath.Join(mnt, "bin/sh")); err != nil || l != "/bbin/elvish" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	fi, err := os.Stat(filepath.Join(mnt, "var"))
	if err != nil || fi.Mode().Perm() != 0o700 || fi.ModTime().Unix() != testEpoch {
		t.Errorf("var: %v %v", fi, err)
	}
}

func TestSquashfsErrors(t *testing.T) {
	var tr Tree
	if err := tr.AddFile("bin/x", "/nonexistent/file", 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.sqfs")
	if _, err := Squashfs(&tr, out, testEpoch); err == nil || !strings.Contains(err.Error(), "bin/x") {
		t.Errorf("missing source: err = %v, want one naming bin/x", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed build left %s behind", out)
	}
	if _, err := SquashfsWith(&Tree{}, out, testEpoch, SquashfsOptions{Compression: "lz5"}); err == nil {
		t.Error("unknown compression accepted")
	}
}
