// Package diskimage writes Flotilla's disk images without privileges or loop
// devices: a squashfs root, a FAT32 EFI system partition and a sparse GPT disk
// that holds them, all reproducible (the same inputs and epoch give the same
// bytes). It also grows a disk's last partition at first boot.
//
// The FAT32 and GPT writers are go-diskfs (github.com/diskfs/go-diskfs); every
// image is checked in the tests with the real tools (unsquashfs, fsck.vfat,
// mtools, sfdisk) and, as root, by mounting it.
//
// A Tree describes what goes into a filesystem: paths, modes, contents and
// symlinks, all owned by root. Squashfs and FAT32 turn a Tree into an image;
// ESP adds the standard directories and label. Disk lays images out as GPT
// partitions (Layout.Parts gives the standard ESP, ROOT-A, ROOT-B, STATE
// table). GrowLastPartition serves init on first boot (internal/statedisk), and
// ReReadPartitions tells the kernel about the grown table.
//
// Squashfs runs mksquashfs (squashfs-tools) on a staged copy of the tree:
// go-diskfs v1.9.4 cannot write symlinks whose targets do not exist on the
// build host. FAT32 and the GPT are pure Go. FAT32 sets SOURCE_DATE_EPOCH in
// the process environment while it runs (go-diskfs reads its timestamps from
// there); calls are serialised, but other goroutines can see the variable.
//
// This package writes only the files it is given as outputs; it never mounts,
// never touches block devices other than the one passed to GrowLastPartition
// or ReReadPartitions.
package diskimage
