// Package devmapper creates, inspects and removes device-mapper devices
// through the kernel's ioctls on /dev/mapper/control, with no LVM tools:
// stage 1 opens a slot's squashfs as a dm-verity target with it.
//
// It owns the ioctl plumbing only; what a table says (a verity target's
// line) is the caller's (internal/verity builds it).
//
//	dev, err := devmapper.Create("root", true, devmapper.Target{
//		Length: p.Sectors(), Type: "verity", Params: p.Table(slot, slot)})
//	// mount dev read-only ...
//	st, _ := devmapper.Status("root") // "V" verified so far, "C" corruption seen
package devmapper
