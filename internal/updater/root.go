package updater

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/devmapper"
)

// What Status.Root says of the running root.
const (
	// RootVerified: the root is a dm-verity device and has found no bad
	// block since boot.
	RootVerified = "verified"
	// RootCorrupt: dm-verity has failed the read of at least one block
	// since boot (the kernel's status "C"): the slot's disk is bad.
	RootCorrupt = "corrupt"
	// RootUnverified: the root is not on dm-verity (a UKI without a
	// flotilla.verity.root, or a development boot).
	RootUnverified = "unverified"
)

// RootState says whether the file system at path ("/" on a node) is read
// through dm-verity, and what the kernel's verity target says of it.
func RootState(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("updater: stat %s: %w", path, err)
	}
	name, err := devmapper.NameOf(unix.Major(st.Dev), unix.Minor(st.Dev))
	if err != nil {
		return RootUnverified, nil
	}
	typ, _, err := devmapper.TableOf(name)
	if err != nil {
		return "", err
	}
	if typ != "verity" {
		return RootUnverified, nil
	}
	s, err := devmapper.Status(name)
	if err != nil {
		return "", err
	}
	switch s {
	case "V":
		return RootVerified, nil
	case "C":
		return RootCorrupt, nil
	}
	return "", fmt.Errorf("updater: dm-verity status %q of %s", s, name)
}

// nodeRootState is RootState("/"), with an error shown as the state.
func nodeRootState() string {
	s, err := RootState("/")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return s
}
