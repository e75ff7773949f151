// Package initramfs builds Flotilla's initramfs: a compressed newc cpio
// archive holding our init at /init, u-root's debug tools as a busybox
// under /bbin, the kernel modules init loads (and the list it loads them
// from, /etc/flotilla/modules.load), and a few extra files.
//
// It uses u-root's mkuimage (uimage.Create) to build the tools from the
// u-root source in the Go module cache and to assemble the archive; every
// record passes through a writer that fixes mtimes, owners and inode
// numbers, so the same inputs give the same bytes.
//
// The package only writes opts.Out and a temporary directory; it does not
// build the init binary (the caller passes a path) and knows nothing of
// the disk image the archive ends up in.
package initramfs
