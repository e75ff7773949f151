package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/verity"
)

// appendVerity appends a dm-verity tree to the slot image at path. The
// salt is the squashfs's own sha256, so a build stays reproducible
// (veritysetup would pick a random one) while two versions never share
// one.
func appendVerity(path string) (verity.Params, error) {
	f, err := os.Open(path)
	if err != nil {
		return verity.Params{}, err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return verity.Params{}, err
	}
	p, err := verity.AppendTree(path, h.Sum(nil))
	if err != nil {
		return verity.Params{}, fmt.Errorf("root hash tree: %w", err)
	}
	return p, nil
}

// VerityCmdline is p as the kernel command line's flotilla.verity.* keys.
func VerityCmdline(p verity.Params) node.Verity {
	return node.Verity{RootHash: hex.EncodeToString(p.RootHash), Salt: hex.EncodeToString(p.Salt),
		DataBlocks: p.DataBlocks, HashOffset: p.HashOffset}
}
