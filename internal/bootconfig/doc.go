// Package bootconfig is Flotilla's first-boot configuration: a small,
// documented JSON document (docs/bootconfig.md) in the spirit of Ignition.
// init reads it from the kernel command line's flotilla.config=URL, from QEMU
// fw_cfg (opt/flotilla/config.json), or from the ESP (flotilla/config.json),
// and image-build writes it. Parse and Validate name the offending field.
package bootconfig
