// Package verity computes and checks dm-verity hash trees (format 1, as
// cryptsetup's veritysetup writes them): sha256, 4 KiB data and hash blocks,
// a salt hashed before each block, and a 512-byte superblock at the hash
// offset with the tree in the blocks after it.
//
// It owns the on-disk format only: image-build appends a tree to a slot's
// squashfs with Format, and the kernel's table line comes from
// Params.Table. Opening the device is internal/devmapper's; this package
// touches no kernel interface.
//
//	p, err := verity.Format(f, dataSize, salt) // f holds the data; the tree goes after it
//	line := p.Table("/dev/vda2", "/dev/vda2")  // "1 /dev/vda2 /dev/vda2 4096 4096 ..."
package verity
