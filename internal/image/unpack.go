package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Whiteout names in a layer tar (OCI image spec, "Whiteouts").
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	whiteoutMeta   = ".wh..wh."
	// overlayOpaque marks a directory whose lower content overlayfs hides.
	overlayOpaque = "trusted.overlay.opaque"
)

// errUnsafePath is returned for tar entries that name a path outside the
// layer root; the whole layer is refused.
var errUnsafePath = errors.New("path escapes the layer root")

// unpackOptions selects how a tar stream is written.
type unpackOptions struct {
	// Overlay converts OCI whiteouts to overlayfs whiteouts (layers); off
	// for plain archives such as an oci-archive's layout.
	Overlay bool
	// Note reports entries that were skipped on purpose (device nodes).
	Note func(msg string)
	// Archive refuses symlinks and FIFOs: an oci-archive's layout holds
	// files and directories only, and its blobs are then read by path, so
	// a symlink would lead outside the archive and a FIFO would block.
	Archive bool
	// Budget, if set, bounds the expanded size and keeps disk space free.
	Budget *budget
}

// dirMeta is a directory's final metadata, applied after its children are
// written so that their creation does not disturb mode and mtime.
type dirMeta struct {
	rel string
	hdr *tar.Header
}

// extractor writes one tar stream under a root directory. Every path is
// resolved with openat2(RESOLVE_IN_ROOT), so neither "..", absolute names
// nor symlinks inside the layer can reach outside it, and the final
// component is always created or replaced with *at calls that do not
// follow symlinks.
type extractor struct {
	root   int
	opts   unpackOptions
	dirs   []dirMeta
	size   int64
	buf    []byte
	cached string // rel path of cachedFD, "" = none
	cfd    int
}

// unpackTar extracts r into the existing directory root and returns the
// number of file content bytes written. On error, root holds a partial tree
// that the caller removes.
func unpackTar(r io.Reader, root string, opts unpackOptions) (int64, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", root, err)
	}
	x := &extractor{root: fd, opts: opts, buf: make([]byte, 1<<20), cfd: -1}
	defer x.close()
	if b := opts.Budget; b != nil {
		b.fd = fd
	}
	cr := &countReader{r: r}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.size, fmt.Errorf("read tar: %w", err)
		}
		if err := opts.Budget.stream(cr.n); err != nil {
			return x.size, err
		}
		if err := x.entry(tr, hdr); err != nil {
			return x.size, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := x.finishDir(x.dirs[i]); err != nil {
			return x.size, fmt.Errorf("tar entry %q: %w", x.dirs[i].hdr.Name, err)
		}
	}
	return x.size, nil
}

// countReader counts the bytes of the tar stream.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (x *extractor) close() {
	x.forget()
	unix.Close(x.root)
}

// forget drops the cached parent directory. The cache holds only the
// parent of the entry being written, which that entry cannot replace, so
// removals under it never make it stale.
func (x *extractor) forget() {
	if x.cfd >= 0 {
		unix.Close(x.cfd)
	}
	x.cfd, x.cached = -1, ""
}

// cleanName maps a tar name to a slash path relative to the root: leading
// slashes are dropped (absolute names land inside the root, as with GNU tar
// without -P) and a name that climbs out with ".." is refused. The root
// itself is "".
func cleanName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("%q: %w", name, errUnsafePath)
	}
	if p == "." {
		return "", nil
	}
	return p, nil
}

var inRoot = &unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
}

// openDir opens directory rel (resolved inside the root), creating missing
// components with mode 0755 when create is set. The fd is owned by the
// extractor's cache; callers must not close it.
func (x *extractor) openDir(rel string, create bool) (int, error) {
	if rel == x.cached && x.cfd >= 0 {
		return x.cfd, nil
	}
	fd, err := x.open(rel, create)
	if err != nil {
		return -1, err
	}
	x.forget()
	x.cached, x.cfd = rel, fd
	return fd, nil
}

func (x *extractor) open(rel string, create bool) (int, error) {
	if rel == "" {
		return unix.Dup(x.root)
	}
	fd, err := unix.Openat2(x.root, rel, inRoot)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	// Walk down, creating what is missing. Each step resolves from the root,
	// so a symlink met on the way still cannot lead outside it.
	parts := strings.Split(rel, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err = unix.Openat2(x.root, prefix, inRoot)
		if err == nil {
			if i < len(parts)-1 {
				unix.Close(fd)
			}
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, err
		}
		pfd, err := x.open(strings.Join(parts[:i], "/"), false)
		if err != nil {
			return -1, err
		}
		err = unix.Mkdirat(pfd, parts[i], 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, err
		}
		if fd, err = unix.Openat2(x.root, prefix, inRoot); err != nil {
			return -1, err
		}
		if i < len(parts)-1 {
			unix.Close(fd)
		}
	}
	return fd, nil
}

// clear removes whatever is at dfd/base so that a new entry can take its
// place (later tar entries win). An existing directory is kept when keepDir
// is set; a non-empty directory cannot be replaced by a non-directory.
func (x *extractor) clear(dfd int, base string, keepDir bool) (isDir bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if keepDir {
			return true, nil
		}
		return false, unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
	}
	return false, unix.Unlinkat(dfd, base, 0)
}

func (x *extractor) note(format string, args ...any) {
	if x.opts.Note != nil {
		x.opts.Note(fmt.Sprintf(format, args...))
	}
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, dirMeta{rel: "", hdr: hdr})
		}
		return nil
	}
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if x.opts.Overlay && strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base, hdr)
	}
	if x.opts.Archive && hdr.Typeflag == tar.TypeSymlink {
		return fmt.Errorf("a symlink (to %q) in an OCI archive is refused: its layout is read by path, so a link would lead outside it: %w", hdr.Linkname, errUnsafePath)
	}
	if x.opts.Archive && hdr.Typeflag == tar.TypeFifo {
		return fmt.Errorf("a FIFO in an OCI archive is refused: reading its layout would block on it: %w", errUnsafePath)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		// archive/tar expands sparse entries (old GNU 'S', and GNU's PAX
		// sparse formats, which come as TypeReg): hdr.Size is the full
		// size, holes included, and that is what file reserves.
		return x.file(tr, dir, base, rel, hdr)
	case tar.TypeDir:
		return x.dir(dir, base, rel, hdr)
	case tar.TypeSymlink:
		return x.symlink(dir, base, hdr)
	case tar.TypeLink:
		return x.hardlink(dir, base, hdr)
	case tar.TypeFifo:
		return x.fifo(dir, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		x.note("skipped device node /%s (%d:%d): containers get /dev from the runtime", rel, hdr.Devmajor, hdr.Devminor)
		return nil
	case tar.TypeXGlobalHeader:
		return nil
	default:
		x.note("skipped /%s: unsupported tar entry type %q", rel, hdr.Typeflag)
		return nil
	}
}

func (x *extractor) whiteout(dir, base string, hdr *tar.Header) error {
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	switch {
	case base == whiteoutOpaque:
		return unix.Fsetxattr(dfd, overlayOpaque, []byte("y"), 0)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // aufs bookkeeping (.wh..wh.plnk etc.), meaningless here
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("bad whiteout name: %w", errUnsafePath)
	}
	if _, err := x.clear(dfd, name, false); err != nil {
		return err
	}
	// overlayfs whiteout: a character device with device number 0/0.
	if err := unix.Mknodat(dfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s (mknod 0/0 needs root): %w", name, err)
	}
	return unix.Fchownat(dfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

func (x *extractor) file(tr *tar.Reader, dir, base, rel string, hdr *tar.Header) error {
	if err := x.opts.Budget.reserve(rel, hdr.Size); err != nil {
		return err
	}
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	if _, err := x.clear(dfd, base, false); err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	err = x.copy(fd, tr)
	if err == nil {
		err = x.meta(fd, hdr)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	x.size += hdr.Size
	return times(dfd, base, hdr)
}

func (x *extractor) copy(fd int, r io.Reader) error {
	for {
		n, rerr := io.ReadFull(r, x.buf)
		for b := x.buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return err
			}
			b = b[w:]
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// meta applies owner, mode (after chown, which clears set-id bits) and
// xattrs (after chown, which clears file capabilities) through an fd.
func (x *extractor) meta(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		// overlayfs trusts trusted.overlay.* (redirects, metacopy, opaque);
		// only the store itself may set them.
		if strings.HasPrefix(attr, "trusted.overlay.") {
			x.note("ignored xattr %s on %s: reserved for overlayfs", attr, hdr.Name)
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				x.note("xattr %s on %s not supported by the store's filesystem", attr, hdr.Name)
				continue
			}
			return fmt.Errorf("xattr %s: %w", attr, err)
		}
	}
	return nil
}

func times(dfd int, base string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(dfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func (x *extractor) dir(dir, base, rel string, hdr *tar.Header) error {
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	isDir, err := x.clear(dfd, base, true)
	if err != nil {
		return err
	}
	if !isDir {
		if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
			return err
		}
	}
	x.dirs = append(x.dirs, dirMeta{rel: rel, hdr: hdr})
	return nil
}

// finishDir applies a directory's metadata. A directory that a later entry
// replaced with a symlink or file is left alone (O_NOFOLLOW, O_DIRECTORY).
func (x *extractor) finishDir(d dirMeta) error {
	var fd int
	var err error
	if d.rel == "" {
		fd, err = unix.Dup(x.root)
	} else {
		how := *inRoot
		how.Flags |= unix.O_NOFOLLOW
		fd, err = unix.Openat2(x.root, d.rel, &how)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := x.meta(fd, d.hdr); err != nil {
		return err
	}
	atime := d.hdr.AccessTime
	if atime.IsZero() {
		atime = d.hdr.ModTime
	}
	tv := []unix.Timeval{unix.NsecToTimeval(atime.UnixNano()), unix.NsecToTimeval(d.hdr.ModTime.UnixNano())}
	return unix.Futimes(fd, tv)
}

func (x *extractor) symlink(dir, base string, hdr *tar.Header) error {
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	if _, err := x.clear(dfd, base, false); err != nil {
		return err
	}
	// The target is data, resolved later inside the container's root; it is
	// never followed here.
	if err := unix.Symlinkat(hdr.Linkname, dfd, base); err != nil {
		return err
	}
	if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return times(dfd, base, hdr)
}

func (x *extractor) hardlink(dir, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	if target == "" {
		return fmt.Errorf("hardlink to the layer root: %w", errUnsafePath)
	}
	tdir, tbase := path.Split(target)
	tfd, err := x.open(strings.TrimSuffix(tdir, "/"), false)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	if _, err := x.clear(dfd, base, false); err != nil {
		return err
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
	if err := unix.Linkat(tfd, tbase, dfd, base, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (x *extractor) fifo(dir, base string, hdr *tar.Header) error {
	dfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	if _, err := x.clear(dfd, base, false); err != nil {
		return err
	}
	if err := unix.Mknodat(dfd, base, unix.S_IFIFO|uint32(hdr.Mode&0o777), 0); err != nil {
		return err
	}
	if err := unix.Fchownat(dfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if err := unix.Fchmodat(dfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
		return err
	}
	return times(dfd, base, hdr)
}
