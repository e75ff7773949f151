// Package uki builds unified kernel images: Debian's systemd-stub
// (linuxx64.efi.stub from systemd-boot-efi) with the kernel, the initramfs,
// the kernel command line and an os-release appended as PE sections
// (.osrel, .cmdline, .initrd, .linux), which the stub hands to the kernel
// when firmware or systemd-boot starts the image.
//
// Sections are added with binutils' objcopy at virtual addresses the way
// systemd's ukify places them: from the end of the stub's last section,
// each at a 4 KiB boundary, .linux last so the kernel has room after it to
// decompress. objcopy runs with -p so the PE header keeps the stub's
// timestamp (zero) instead of the build time: the same inputs give the same
// bytes.
//
// The package writes only Options.Out (and a temporary file beside it); it
// neither signs the image nor knows where on the ESP it goes.
package uki
