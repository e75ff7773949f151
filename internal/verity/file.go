package verity

import (
	"crypto/sha256"
	"fmt"
	"os"
)

// AppendTree pads the file at path with zeros to a whole block and appends
// the superblock and the tree. The uuid in the superblock is derived from
// the salt, so the same data and salt give the same bytes.
func AppendTree(path string, salt []byte) (Params, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Params{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Params{}, err
	}
	size := (st.Size() + BlockSize - 1) / BlockSize * BlockSize
	if err := f.Truncate(size); err != nil {
		return Params{}, fmt.Errorf("verity: pad %s: %w", path, err)
	}
	u := sha256.Sum256(append([]byte("flotilla verity uuid "), salt...))
	var uuid [16]byte
	copy(uuid[:], u[:])
	uuid[6] = uuid[6]&0x0f | 0x40 // a version-4 layout, as veritysetup's
	uuid[8] = uuid[8]&0x3f | 0x80
	p, err := Format(f, f, size, salt, uuid)
	if err != nil {
		return Params{}, fmt.Errorf("%s: %w", path, err)
	}
	return p, f.Sync()
}
