package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// errLayoutLink is wrapped by the refusal of an OCI layout directory that
// holds a symlink or a special file where the layout reader looks.
var errLayoutLink = errors.New("not a plain file or directory")

// checkLayout refuses an oci: layout directory in which oci-layout,
// index.json, blobs/ or anything under blobs/ is a symlink or a special
// file. The layout is read by path (go-containerregistry), and a unit names
// the directory, so blobs → / or blobs/sha256 → /elsewhere would feed host
// files into the image, and a FIFO would block the pull.
// go-containerregistry refuses a symlinked blob file itself; its
// directories and index.json it follows, hence this check. All symlinks are
// refused, including those that stay inside: the rule is the library's
// for blobs, and one rule is easier to state than a resolver.
//
// The directory's own path is trusted: it is on the node and was named
// by whoever submitted the unit. The check and the reads are separate
// steps, so whoever can rewrite the layout between them can still swap a
// file; every layer is then checked against its digest all the same.
func checkLayout(dir, ref string) error {
	refuse := func(rel string, fi fs.FileInfo) error {
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(filepath.Join(dir, rel))
			return fmt.Errorf("image: %s: %s is a symlink (to %q), %w: an OCI layout is read by path, so links could lead outside it; copy the file into the layout",
				ref, rel, target, errLayoutLink)
		}
		kind := "a special file"
		switch {
		case fi.Mode()&fs.ModeNamedPipe != 0:
			kind = "a FIFO"
		case fi.Mode()&fs.ModeDevice != 0:
			kind = "a device node"
		case fi.Mode()&fs.ModeSocket != 0:
			kind = "a socket"
		}
		return fmt.Errorf("image: %s: %s is %s, %w: an OCI layout holds files and directories only", ref, rel, kind, errLayoutLink)
	}
	for _, top := range []string{"oci-layout", "index.json", "blobs"} {
		fi, err := os.Lstat(filepath.Join(dir, top))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the layout reader reports what is missing
		}
		if err != nil {
			return fmt.Errorf("image: %s: %w", ref, err)
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			return refuse(top, fi)
		}
	}
	return filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("image: %s: %w", ref, err)
		}
		if d.Type().IsRegular() || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("image: %s: %w", ref, err)
		}
		rel, _ := filepath.Rel(dir, p)
		return refuse(rel, fi)
	})
}
