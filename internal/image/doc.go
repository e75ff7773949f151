// Package image is the node's image store: it pulls container images from
// registries and local archives, verifies them by digest, and keeps their
// layers unpacked, content-addressed and ready to be stacked by overlayfs.
//
// # What it owns
//
// Everything under the store directory given to Open, and nothing else. It
// never mounts anything: the caller (the container runtime) stacks
// Image.Layers with overlayfs, using Image.LowerDir() as lowerdir and its
// own upper and work dirs outside the store. It does not run containers,
// track which images are in use (GC asks the caller) or talk to etcd.
//
// # References
//
// Spelled as Podman users write them:
//
//	docker.io/library/redis:7, 127.0.0.1:5000/x:1, repo@sha256:...   registry (docker:// prefix optional)
//	docker-archive:/path.tar[:repo:tag]                              a `docker save` tarball
//	oci-archive:/path.tar[:tag]                                      a tar of an OCI layout
//	oci:/dir[:tag]                                                   an OCI layout directory
//
// Only linux/amd64 images are stored; an index is resolved to its
// linux/amd64 manifest.
//
// # On-disk layout
//
//	DIR/index.json                 refs → manifest digest, config, layer diffIDs; layer sizes
//	DIR/lock                       flock(2) held by Pull, Remove, GC (across processes)
//	DIR/layers/sha256/<diffID>/    one unpacked layer: an overlayfs lowerdir
//	DIR/tmp/                       unpacks in progress; emptied by Open and GC
//
// Layers are keyed by diffID (the sha256 of the uncompressed tar) and shared
// between images; a layer whose directory exists is complete and is never
// fetched or unpacked again. A layer is unpacked into DIR/tmp, its
// compressed digest (from the manifest) and diffID (from the config) are
// checked while streaming, the filesystem is synced, and only then is it
// renamed into layers/. On any error, a full disk included, the temp dir is
// removed. index.json is replaced atomically (temp file, fsync, rename).
//
// Whiteouts are converted to overlayfs form: ".wh.NAME" becomes a 0/0
// character device NAME and ".wh..wh..opq" the xattr trusted.overlay.opaque=y
// on its directory, so Pull needs root. Tar entries cannot write outside
// their layer: paths resolve with openat2(RESOLVE_IN_ROOT), ".." names are
// refused, device nodes are skipped and trusted.overlay.* xattrs from a
// layer are ignored.
//
// Bounds: every regular file reserves its full size (a sparse entry counts
// holes and all) before it is written. A layer that expands past
// PullOptions.MaxLayerSize (8 GiB) or MaxRatio (250× its compressed bytes,
// past 256 MiB) is refused with ErrTooLarge, and a file that would leave
// less than MinFree (1% of the filesystem, at most 256 MiB) as ENOSPC.
// An oci-archive may hold only files and directories, and an oci: layout
// no symlink or special file where its reader looks (checkLayout): both are
// read by path. A docker-archive's links resolve among its own entries.
//
// # Example
//
//	s, err := image.Open("/var/lib/flotilla/images")
//	img, err := s.Pull(ctx, "docker.io/library/busybox:latest", image.PullOptions{})
//	opts := "lowerdir=" + img.LowerDir() + ",upperdir=...,workdir=..."
package image
