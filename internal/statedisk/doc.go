// Package statedisk owns the boot disk as init sees it and the STATE
// partition on it: find the disk holding the booted slot through sysfs
// (FindDisk, WaitDisk), grow the last partition (STATE) to fill the disk
// on first boot and have the kernel reread the table (GrowPartition), and
// make STATE's ext4 fit for mounting: format it when it holds none, grow
// the file system when the partition is larger (Prepare, Resize).
//
// mke2fs and resize2fs run as child processes that it waits for, so its
// callers in PID 1 use it before any process-wide reaper exists.
//
// What it must not touch: the partition layout and the GPT writer
// (internal/diskimage, which it calls), mounting (init's boot steps mount
// STATE at /var between Prepare and Resize), and what lives on STATE
// (internal/node names those paths).
package statedisk
