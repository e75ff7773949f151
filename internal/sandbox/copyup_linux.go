package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// This file fills a new mount with what the image had at its target, as
// runc's tmpcopyup and Podman's volume copy-up do. It never follows a
// symbolic link: links are copied as links, so an image cannot make it
// read or write outside the trees it copies between.

// openInRoot opens p (a path in the container) as a directory below root,
// resolving it with root as "/". ok is false when p does not exist or is
// not a directory.
func openInRoot(root, p string) (fd int, ok bool, err error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false, fmt.Errorf("open rootfs %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	fd, err = unix.Openat2(rootFD, p, &how)
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return -1, false, nil
	case err != nil:
		return -1, false, fmt.Errorf("open %s in rootfs: %w", p, err)
	}
	return fd, true, nil
}

// copyTree copies the contents of directory src into directory dst (both
// open file descriptors), then gives dst src's owner and mode. Existing
// entries in dst are kept.
func copyTree(src, dst int) error {
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return err
	}
	if err := copyEntries(src, dst, 0); err != nil {
		return err
	}
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(dst, st.Mode&07777)
}

// maxCopyDepth bounds the recursion of a copy-up.
const maxCopyDepth = 128

func copyEntries(src, dst, depth int) error {
	if depth > maxCopyDepth {
		return fmt.Errorf("copy-up: directories nested deeper than %d", maxCopyDepth)
	}
	dup, err := unix.Dup(src)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(dup), "copy-up")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := copyEntry(src, dst, name, depth); err != nil {
			return fmt.Errorf("copy-up %s: %w", name, err)
		}
	}
	return nil
}

func copyEntry(src, dst int, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(src, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	mode := st.Mode & 07777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dst, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		sfd, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(sfd)
		dfd, err := unix.Openat(dst, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		if err := copyEntries(sfd, dfd, depth+1); err != nil {
			return err
		}
		if err := unix.Fchown(dfd, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		return unix.Fchmod(dfd, mode)
	case unix.S_IFREG:
		sfd, err := unix.Openat(src, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		in := os.NewFile(uintptr(sfd), name)
		defer in.Close()
		dfd, err := unix.Openat(dst, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		if err != nil {
			return err
		}
		out := os.NewFile(uintptr(dfd), name)
		defer out.Close()
		if _, err := io.Copy(out, in); err != nil {
			return err
		}
		if err := unix.Fchown(dfd, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		return unix.Fchmod(dfd, mode)
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(src, name, buf)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(string(buf[:n]), dst, name); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return nil
			}
			return err
		}
		return unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFIFO:
		if err := unix.Mkfifoat(dst, name, mode); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return unix.Fchownat(dst, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil // device nodes and sockets: nothing would open them
}
