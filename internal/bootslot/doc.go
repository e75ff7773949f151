// Package bootslot owns the two halves of an A/B update on the node's
// disk: writing a root squashfs into the inactive slot (ROOT-A or ROOT-B)
// and managing the UKI entries on the ESP that systemd-boot counts down,
// the running system blesses, and Cleanup prunes.
//
// Slots: WriteSlot streams a payload's rootfs into a partition with large
// O_DIRECT writes from a ring of buffers: each chunk is written as soon as
// it is read, then hashed; an fdatasync ends it, and a stream whose sha256
// is not the manifest's clears the slot's first block. The slot is not
// read back: the root's dm-verity tree, whose root hash is in the signed
// UKI, checks every block when the new version reads it, and a block the
// disk lost fails that boot, so boot counting falls back. It never writes a mounted device, so the active slot (the root) is safe;
// the caller names the active slot from /proc/cmdline's flotilla.slot=
// and gets the other one from Inactive.
//
// Entries: InstallUKI puts EFI/Linux/flotilla-<version>+3.efi on the ESP
// atomically (temporary dot file, fsync, rename, fsync dir, read back);
// Entries parses flotilla-<version>[+<left>[-<done>]].efi; Booted says
// which entry runs (LoaderEntrySelected, else os-release); Bless drops the
// counter; DetectFallback records versions systemd-boot gave up on in a
// list on STATE; Cleanup keeps at most two versions. The package touches
// only EFI/Linux/flotilla-* (and its own temporary files) on the ESP, the
// slot device it is given, and the failed-versions file it is given.
//
// How systemd-boot 252 picks the entry (read from its src/boot/efi/boot.c
// and string-util-fundamental.c, Debian's 252.39 here):
//
//   - Type #2 entries are the *.efi files in \EFI\Linux not starting with
//     '.' (so InstallUKI's temporary files are never entries). An entry's
//     id is its file name, lowercased, counter included; its sort key is
//     .osrel's IMAGE_ID, else ID ("flotilla"); its version is .osrel's
//     IMAGE_VERSION, else VERSION, VERSION_ID, BUILD_ID.
//   - The counter is what follows the last '+' up to ".efi": LEFT or
//     LEFT-DONE. Before starting a counting entry systemd-boot renames it
//     to LEFT-1 / DONE+1 (+3 → +2-1 → +1-2 → +0-3) and exports the new
//     path as LoaderBootCountPath; LoaderEntrySelected keeps the id it was
//     found under (flotilla-2.0.0+3.efi). Versions must not contain '+'.
//   - Sorting (config_entry_compare): entries with no tries left go last;
//     then, both having a sort key, by sort key, by machine-id, then by
//     version newest first; then by id newest first; then more tries left
//     first and fewer tries done first. "default flotilla-*" in
//     loader.conf picks the first match in that order (config_entry_find),
//     unless the EFI variables LoaderEntryOneShot or LoaderEntryDefault
//     (bootctl set-default) name another: we set neither.
//   - So a blessed flotilla-1.0.0.efi and a new flotilla-2.0.0+3.efi boot
//     2.0.0; once it is at flotilla-2.0.0+0-3.efi it sorts below 1.0.0,
//     which boots (the fallback). If every entry is exhausted the first
//     exhausted one still boots. Sort, Default and the tests check this.
//   - Versions compare with strverscmp_improved (CompareVersions), which is
//     not semver: '-' starts a release suffix that sorts ABOVE the bare
//     version, so 2.0.0-rc1 is newer than 2.0.0 to systemd-boot (semver
//     says older). Use '~' for pre-releases (2.0.0~rc1 < 2.0.0), or never
//     install a release over its own -rc: systemd-boot would keep booting
//     the -rc.
package bootslot
