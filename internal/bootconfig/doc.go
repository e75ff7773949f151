// Package bootconfig is Flotilla's first-boot configuration: a small,
// documented JSON document (docs/bootconfig.md) in the spirit of Ignition.
//
// Load finds the document: the kernel command line's flotilla.config=URL
// (see CmdlineURL), then QEMU fw_cfg (opt/flotilla/config.json), then the
// ESP (flotilla/config.json), else built-in defaults. Parse reads it
// strictly and Validate checks every rule, reporting all problems, each an
// *Error naming the source and the field's JSON path. image-build writes
// documents with Marshal. The accessors (MemberName, IsMember,
// UpdateInterval, UpdateChannel, RebootWindow, Unit.ShouldStart) apply the
// defaults.
//
// The package only reads and checks: it mounts nothing and configures
// nothing. init acts on the Config.
package bootconfig
