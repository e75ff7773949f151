package initd

import (
	"encoding/hex"
	"fmt"

	"github.com/flotilla-os/flotilla/internal/devmapper"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/verity"
)

// VerityName is the device-mapper name of the verified root
// (/dev/mapper/root).
const VerityName = "root"

// VerityParams turns the command line's flotilla.verity.* keys into the
// tree's parameters (node.ParseCmdline has checked their form).
func VerityParams(v node.Verity) (verity.Params, error) {
	root, err := hex.DecodeString(v.RootHash)
	if err != nil {
		return verity.Params{}, fmt.Errorf("%s: %w", node.KeyVerityRoot, err)
	}
	salt, err := hex.DecodeString(v.Salt)
	if err != nil {
		return verity.Params{}, fmt.Errorf("%s: %w", node.KeyVeritySalt, err)
	}
	p := verity.Params{DataBlocks: v.DataBlocks, HashOffset: v.HashOffset, Salt: salt, RootHash: root}
	return p, p.Check()
}

// openVerity opens the slot's partition dev through dm-verity, data and
// tree on the same partition, and returns the verified device. A block
// that does not match its hash then fails its read with EIO, and a root
// hash that does not match the tree fails the first read: the mount.
func openVerity(dev string, v node.Verity) (string, error) {
	p, err := VerityParams(v)
	if err != nil {
		return "", err
	}
	return devmapper.Create(VerityName, true, devmapper.Target{
		Length: p.Sectors(), Type: "verity", Params: p.Table(dev, dev)})
}
