package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// sandbox returns a root dir to unpack into, inside a parent whose other
// contents must never change, and an outside dir with one file in it.
func sandbox(t *testing.T) (root, outside string) {
	t.Helper()
	parent := t.TempDir()
	root, outside = filepath.Join(parent, "root"), filepath.Join(parent, "outside")
	os.Mkdir(root, 0o755)
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644)
	return root, outside
}

// checkOutside fails if anything in outside changed or appeared, or if
// anything but root and outside appeared beside them.
func checkOutside(t *testing.T, root, outside string) {
	t.Helper()
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 || ents[0].Name() != "victim" {
		t.Errorf("outside dir now holds %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "original" {
		t.Errorf("victim overwritten: %q", b)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(outside, "victim"), &st)
	if st.Nlink != 1 {
		t.Errorf("victim has %d links: hardlinked from the layer", st.Nlink)
	}
	ents, _ = os.ReadDir(filepath.Dir(root))
	if len(ents) != 2 {
		t.Errorf("beside the layer root: %v", ents)
	}
}

func TestUnpackMalicious(t *testing.T) {
	testenv.NeedRoot(t)
	abs := "/flotilla-image-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, tc := range []struct {
		name    string
		entries func(outside string) []imagetest.Entry
		wantErr error // nil: unpack may succeed, but must stay inside
		inside  []string
	}{
		{"dotdot", func(string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.File("../outside/escape", "x")}
		}, errUnsafePath, nil},
		{"dotdot-deep", func(string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.File("a/../../outside/victim", "pwned")}
		}, errUnsafePath, nil},
		{"absolute", func(string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.File(abs, "x")}
		}, nil, []string{filepath.Base(abs)}},
		{"absolute-symlink-write-through", func(outside string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.Symlink("evil", outside), imagetest.File("evil/victim", "pwned")}
		}, nil, nil},
		{"relative-symlink-write-through", func(string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.Symlink("evil", "../../../../../../outside"), imagetest.File("evil/victim", "pwned")}
		}, nil, nil},
		{"symlink-dir-then-file-replaces-it", func(outside string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.Symlink("victim", filepath.Join(outside, "victim")), imagetest.File("victim", "mine")}
		}, nil, []string{"victim"}},
		{"hardlink-out", func(outside string) []imagetest.Entry {
			return []imagetest.Entry{{Hdr: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "../outside/victim"}}}
		}, errUnsafePath, nil},
		{"hardlink-absolute", func(outside string) []imagetest.Entry {
			return []imagetest.Entry{{Hdr: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: filepath.Join(outside, "victim")}}}
		}, nil, nil},
		{"hardlink-through-symlink", func(outside string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.Symlink("evil", outside), {Hdr: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "evil/victim"}}}
		}, nil, nil},
		{"device-nodes-skipped", func(string) []imagetest.Entry {
			return []imagetest.Entry{
				{Hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666}},
				{Hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Devmajor: 8, Devminor: 0, Mode: 0o660}},
			}
		}, nil, []string{}},
		{"whiteout-dotdot", func(string) []imagetest.Entry {
			return []imagetest.Entry{imagetest.File(".wh..", "")}
		}, errUnsafePath, nil},
		{"overlay-xattr-ignored", func(string) []imagetest.Entry {
			return []imagetest.Entry{{Hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o755,
				PAXRecords: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.ok": "1"}}}}
		}, nil, []string{"d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := sandbox(t)
			var notes []string
			_, err := unpackTar(bytes.NewReader(imagetest.Tar(t, tc.entries(outside)...)), root,
				unpackOptions{Overlay: true, Note: func(m string) { notes = append(notes, m) }})
			t.Logf("err=%v notes=%q", err, notes)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			checkOutside(t, root, outside)
			if _, err := os.Lstat(abs); err == nil {
				os.Remove(abs)
				t.Errorf("%s written on the host", abs)
			}
			if tc.inside != nil {
				var names []string
				ents, _ := os.ReadDir(root)
				for _, e := range ents {
					names = append(names, e.Name())
				}
				if strings.Join(names, ",") != strings.Join(tc.inside, ",") {
					t.Errorf("layer root holds %v, want %v", names, tc.inside)
				}
			}
		})
	}
}

func TestUnpackDeviceNodesAndXattrs(t *testing.T) {
	testenv.NeedRoot(t)
	root, _ := sandbox(t)
	var notes []string
	_, err := unpackTar(bytes.NewReader(imagetest.Tar(t,
		imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3, Mode: 0o666}},
		imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o4755, Uid: 1000, Gid: 2000,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}}, Body: []byte("x")},
		imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeLink, Name: "hl", Linkname: "f"}},
		imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600}},
		imagetest.Entry{Hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "ln", Linkname: "/etc/passwd", Uid: 5, Gid: 6}},
	)), root, unpackOptions{Overlay: true, Note: func(m string) { notes = append(notes, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("device node created: %v", err)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "skipped device node /dev/null") {
		t.Errorf("no note about the device node: %q", notes)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "f"), &st)
	if st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 2000 || st.Nlink != 2 {
		t.Errorf("f: mode %o uid %d gid %d nlink %d", st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(root, "f"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("user.k = %q, %v", buf[:n], err)
	}
	if _, err := unix.Lgetxattr(filepath.Join(root, "f"), "trusted.overlay.opaque", buf); err == nil {
		t.Error("trusted.overlay.opaque taken from the tar")
	}
	unix.Lstat(filepath.Join(root, "fifo"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo mode %o", st.Mode)
	}
	unix.Lstat(filepath.Join(root, "ln"), &st)
	if l, _ := os.Readlink(filepath.Join(root, "ln")); l != "/etc/passwd" || st.Uid != 5 || st.Gid != 6 {
		t.Errorf("ln -> %s uid %d gid %d", l, st.Uid, st.Gid)
	}
}

// TestPullMaliciousLayer: a refused layer leaves nothing in the store.
func TestPullMaliciousLayer(t *testing.T) {
	s := newStore(t)
	img := imagetest.Image(t, v1.Config{}, imagetest.Layer(t, imagetest.File("ok", "x"), imagetest.File("../../escape", "x")))
	path := filepath.Join(t.TempDir(), "evil.tar")
	imagetest.WriteDockerArchive(t, img, "evil:1", path)
	_, err := s.Pull(context.Background(), "docker-archive:"+path, logf(t))
	if !errors.Is(err, errUnsafePath) || !strings.Contains(err.Error(), "layer 1/1") {
		t.Fatalf("got %v, want the layer refused", err)
	}
	assertEmpty(t, filepath.Join(s.Dir(), "tmp"))
	assertEmpty(t, filepath.Join(s.Dir(), "layers", "sha256"))
	if _, err := os.Stat(filepath.Join(s.Dir(), "escape")); err == nil {
		t.Error("escape written into the store dir")
	}
}
