package imagebuild

import (
	"fmt"

	"github.com/flotilla-os/flotilla/internal/diskimage"
)

// systemdBoot is Debian's systemd-boot binary (package systemd-boot-efi).
const systemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// LoaderConf makes systemd-boot boot the newest good Flotilla entry at once.
// Entries sort by version; one whose tries ran out sorts last.
const LoaderConf = "timeout 0\ndefault flotilla-*\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n"

// UKIName is the ESP path of a version's unified kernel image. The image
// that image-build installs is trusted (no boot counter); the updater writes
// new versions with "+3".
func UKIName(version string) string { return fmt.Sprintf("EFI/Linux/flotilla-%s.efi", version) }

func buildESP(out, loader, ukiPath, version, configPath string, epoch int64) error {
	t := &diskimage.Tree{}
	for _, f := range []struct {
		dst, src string
	}{
		{"/EFI/BOOT/BOOTX64.EFI", loader},
		{"/EFI/systemd/systemd-bootx64.efi", loader},
		{"/" + UKIName(version), ukiPath},
		{"/flotilla/config.json", configPath},
	} {
		if err := t.AddFile(f.dst, f.src, 0o644); err != nil {
			return err
		}
	}
	if err := t.AddBytes("/loader/loader.conf", []byte(LoaderConf), 0o644); err != nil {
		return err
	}
	return diskimage.ESP(t, diskimage.DefaultLayout.ESP, out, epoch)
}
