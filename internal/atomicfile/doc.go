// Package atomicfile replaces small files so that after a power cut at any
// point they hold either the old or the new contents, never an empty or
// partial file: a temporary file in the same directory, fsync, rename, fsync
// of the directory. Every file Flotilla keeps on STATE or the ESP and reads
// at boot (machine ID, entropy seed, configs, update state) goes through it.
package atomicfile
