package verity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// BlockSize is the data and hash block size (4 KiB, the page size, which
// is what the kernel reads a squashfs with).
const BlockSize = 4096

const (
	digestSize   = sha256.Size
	hashPerBlock = BlockSize / digestSize // 128: digests are stored at a 32-byte stride
	sbSize       = 512
	maxSalt      = 256
)

var sbMagic = [8]byte{'v', 'e', 'r', 'i', 't', 'y', 0, 0}

// Params are what the kernel needs besides the device: they go on the
// kernel command line (internal/node) and into the device-mapper table.
type Params struct {
	DataBlocks uint64 // data area: blocks 0..DataBlocks-1
	HashOffset uint64 // bytes: where the superblock is; the tree starts one block later
	Salt       []byte
	RootHash   []byte
}

// HashStartBlock is the first tree block, in hash blocks from the start of
// the hash device: the block after the superblock.
func (p Params) HashStartBlock() uint64 { return p.HashOffset/BlockSize + 1 }

// Size is the end of the tree in bytes from the start of the device: what
// a slot must hold.
func (p Params) Size() uint64 {
	_, total := levels(p.DataBlocks)
	return (p.HashStartBlock() + total) * BlockSize
}

// Table is the verity target's parameter line for dm-verity ("Documentation/
// admin-guide/device-mapper/verity.rst"): version 1, both areas on the
// given devices, sha256. With no optional arguments a block that does not
// match fails its read with EIO.
func (p Params) Table(dataDev, hashDev string) string {
	salt := "-"
	if len(p.Salt) > 0 {
		salt = hex.EncodeToString(p.Salt)
	}
	return fmt.Sprintf("1 %s %s %d %d %d %d sha256 %s %s", dataDev, hashDev, BlockSize, BlockSize,
		p.DataBlocks, p.HashStartBlock(), hex.EncodeToString(p.RootHash), salt)
}

// Sectors is the verified device's length in 512-byte sectors.
func (p Params) Sectors() uint64 { return p.DataBlocks * (BlockSize / 512) }

// Check says what is wrong with p, for a table or a command line.
func (p Params) Check() error {
	switch {
	case p.DataBlocks == 0:
		return errors.New("verity: no data blocks")
	case p.HashOffset%BlockSize != 0:
		return fmt.Errorf("verity: hash offset %d is not a multiple of %d", p.HashOffset, BlockSize)
	case p.HashOffset < p.DataBlocks*BlockSize:
		return fmt.Errorf("verity: hash offset %d is inside the %d data blocks", p.HashOffset, p.DataBlocks)
	case len(p.RootHash) != digestSize:
		return fmt.Errorf("verity: root hash has %d bytes, want %d (sha256)", len(p.RootHash), digestSize)
	case len(p.Salt) > maxSalt:
		return fmt.Errorf("verity: salt has %d bytes, at most %d", len(p.Salt), maxSalt)
	}
	return nil
}

// levels gives the number of blocks of each tree level, bottom (the
// hashes of the data) first, and their sum. Like cryptsetup, a level is
// added while the one below does not fit one block; one data block needs
// no tree at all (the root is its own hash).
func levels(dataBlocks uint64) (sizes []uint64, total uint64) {
	n := dataBlocks
	for n > 1 {
		n = (n + hashPerBlock - 1) / hashPerBlock
		sizes = append(sizes, n)
		total += n
	}
	return sizes, total
}

// hashBlock is sha256(salt || block), format 1's digest.
func hashBlock(salt, block []byte) [digestSize]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(block)
	var d [digestSize]byte
	h.Sum(d[:0])
	return d
}

// Format hashes the data in f[0:dataSize] (a multiple of BlockSize) and
// writes the superblock at dataSize and the tree after it. uuid goes into
// the superblock only (veritysetup shows it).
func Format(f io.ReaderAt, w io.WriterAt, dataSize int64, salt []byte, uuid [16]byte) (Params, error) {
	if dataSize <= 0 || dataSize%BlockSize != 0 {
		return Params{}, fmt.Errorf("verity: data size %d is not a positive multiple of %d", dataSize, BlockSize)
	}
	p := Params{DataBlocks: uint64(dataSize / BlockSize), HashOffset: uint64(dataSize), Salt: salt}
	tree, root, err := buildTree(f, p.DataBlocks, salt)
	if err != nil {
		return Params{}, err
	}
	p.RootHash = root
	// The superblock's block is written whole, as veritysetup does.
	sb := append(superblock(p, uuid), make([]byte, BlockSize-sbSize)...)
	if _, err := w.WriteAt(sb, int64(p.HashOffset)); err != nil {
		return Params{}, fmt.Errorf("verity: write superblock: %w", err)
	}
	if _, err := w.WriteAt(tree, int64(p.HashStartBlock()*BlockSize)); err != nil {
		return Params{}, fmt.Errorf("verity: write hash tree: %w", err)
	}
	return p, p.Check()
}

// buildTree returns the tree as it lies on disk (top level first, the
// data's hashes last) and the root hash.
func buildTree(r io.ReaderAt, dataBlocks uint64, salt []byte) ([]byte, []byte, error) {
	sizes, total := levels(dataBlocks)
	tree := make([]byte, total*BlockSize)
	// Level i's place: the levels above it come first.
	start := make([]uint64, len(sizes))
	pos := uint64(0)
	for i := len(sizes) - 1; i >= 0; i-- {
		start[i] = pos
		pos += sizes[i]
	}
	var lastDigest [digestSize]byte
	const chunk = 256 // blocks read at a time
	buf := make([]byte, chunk*BlockSize)
	for b := uint64(0); b < dataBlocks; b += chunk {
		n := min(chunk, dataBlocks-b)
		if _, err := r.ReadAt(buf[:n*BlockSize], int64(b*BlockSize)); err != nil {
			return nil, nil, fmt.Errorf("verity: read data block %d: %w", b, err)
		}
		for i := uint64(0); i < n; i++ {
			d := hashBlock(salt, buf[i*BlockSize:(i+1)*BlockSize])
			if len(sizes) == 0 {
				lastDigest = d
				continue
			}
			copy(tree[start[0]*BlockSize+(b+i)*digestSize:], d[:])
		}
	}
	for lv := 1; lv < len(sizes); lv++ {
		below := tree[start[lv-1]*BlockSize : (start[lv-1]+sizes[lv-1])*BlockSize]
		for i := uint64(0); i < sizes[lv-1]; i++ {
			d := hashBlock(salt, below[i*BlockSize:(i+1)*BlockSize])
			copy(tree[start[lv]*BlockSize+i*digestSize:], d[:])
		}
	}
	if len(sizes) > 0 {
		lastDigest = hashBlock(salt, tree[:BlockSize]) // the top level is one block, first
	}
	return tree, lastDigest[:], nil
}

// superblock is cryptsetup's struct verity_sb, little-endian.
func superblock(p Params, uuid [16]byte) []byte {
	var b bytes.Buffer
	b.Write(sbMagic[:])
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	le(uint32(1)) // version
	le(uint32(1)) // hash type: format 1
	b.Write(uuid[:])
	var alg [32]byte
	copy(alg[:], "sha256")
	b.Write(alg[:])
	le(uint32(BlockSize))
	le(uint32(BlockSize))
	le(p.DataBlocks)
	le(uint16(len(p.Salt)))
	b.Write(make([]byte, 6))
	var salt [maxSalt]byte
	copy(salt[:], p.Salt)
	b.Write(salt[:])
	b.Write(make([]byte, sbSize-b.Len()))
	return b.Bytes()
}

// ReadSuperblock reads the superblock at off: data blocks and salt (the
// root hash is not in it; it comes from the signed command line).
func ReadSuperblock(r io.ReaderAt, off int64) (Params, error) {
	sb := make([]byte, sbSize)
	if _, err := r.ReadAt(sb, off); err != nil {
		return Params{}, fmt.Errorf("verity: read superblock at %d: %w", off, err)
	}
	if !bytes.Equal(sb[:8], sbMagic[:]) {
		return Params{}, fmt.Errorf("verity: no superblock at %d", off)
	}
	le := binary.LittleEndian
	if v, t := le.Uint32(sb[8:]), le.Uint32(sb[12:]); v != 1 || t != 1 {
		return Params{}, fmt.Errorf("verity: superblock version %d hash type %d, want 1 and 1", v, t)
	}
	if alg := string(bytes.TrimRight(sb[32:64], "\x00")); alg != "sha256" {
		return Params{}, fmt.Errorf("verity: hash %q, want sha256", alg)
	}
	if d, h := le.Uint32(sb[64:]), le.Uint32(sb[68:]); d != BlockSize || h != BlockSize {
		return Params{}, fmt.Errorf("verity: block sizes %d/%d, want %d", d, h, BlockSize)
	}
	n := int(le.Uint16(sb[80:]))
	if n > maxSalt {
		return Params{}, fmt.Errorf("verity: salt size %d", n)
	}
	return Params{DataBlocks: le.Uint64(sb[72:]), HashOffset: uint64(off), Salt: bytes.Clone(sb[88 : 88+n])}, nil
}

// Verify recomputes the tree from the data in r and compares the tree on
// disk and the root hash with p: what the kernel would find, in one pass.
func Verify(r io.ReaderAt, p Params) error {
	if err := p.Check(); err != nil {
		return err
	}
	tree, root, err := buildTree(r, p.DataBlocks, p.Salt)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, p.RootHash) {
		return fmt.Errorf("verity: data hashes to root %x, want %x", root, p.RootHash)
	}
	if len(tree) == 0 {
		return nil
	}
	disk := make([]byte, len(tree))
	if _, err := r.ReadAt(disk, int64(p.HashStartBlock()*BlockSize)); err != nil {
		return fmt.Errorf("verity: read hash tree: %w", err)
	}
	if !bytes.Equal(disk, tree) {
		return errors.New("verity: the hash tree on disk differs from the data's")
	}
	return nil
}
