package verity

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		blocks uint64
		want   []uint64
	}{
		{1, nil}, {2, []uint64{1}}, {128, []uint64{1}}, {129, []uint64{2, 1}},
		{128 * 128, []uint64{128, 1}}, {128*128 + 1, []uint64{129, 2, 1}},
	} {
		got, _ := levels(tc.blocks)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("levels(%d) = %v, want %v", tc.blocks, got, tc.want)
		}
	}
}

// dataFile writes n pseudo-random blocks plus a tail of extra bytes.
func dataFile(t *testing.T, n, extra int, seed uint64) (string, []byte) {
	t.Helper()
	b := make([]byte, n*BlockSize+extra)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

var rootRE = regexp.MustCompile(`(?m)^Root hash:\s+([0-9a-f]+)`)

// TestFormatMatchesVeritysetup: veritysetup format over the same data,
// salt and uuid writes the same bytes and reports the same root hash, and
// veritysetup verify accepts our tree.
func TestFormatMatchesVeritysetup(t *testing.T) {
	testenv.NeedCommand(t, "veritysetup")
	salt, _ := hex.DecodeString("0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210")
	for _, tc := range []struct{ blocks, extra int }{
		{1, 0}, {2, 0}, {128, 0}, {129, 0}, {300, 100}, {128*128 + 5, 0},
	} {
		t.Run(fmt.Sprintf("%d+%d", tc.blocks, tc.extra), func(t *testing.T) {
			ours, data := dataFile(t, tc.blocks, tc.extra, uint64(tc.blocks))
			p, err := AppendTree(ours, salt)
			if err != nil {
				t.Fatal(err)
			}
			dataSize := (len(data) + BlockSize - 1) / BlockSize * BlockSize
			if p.DataBlocks != uint64(dataSize/BlockSize) || p.HashOffset != uint64(dataSize) {
				t.Fatalf("params %+v for %d bytes", p, len(data))
			}
			got, _ := os.ReadFile(ours)
			if uint64(len(got)) != p.Size() {
				t.Errorf("file is %d bytes, Size() says %d", len(got), p.Size())
			}
			sb, err := ReadSuperblock(bytes.NewReader(got), int64(p.HashOffset))
			if err != nil {
				t.Fatal(err)
			}
			uuid := fmt.Sprintf("%x-%x-%x-%x-%x", got[dataSize+16:dataSize+20], got[dataSize+20:dataSize+22],
				got[dataSize+22:dataSize+24], got[dataSize+24:dataSize+26], got[dataSize+26:dataSize+32])

			theirs := filepath.Join(t.TempDir(), "theirs.img")
			padded := make([]byte, dataSize)
			copy(padded, data)
			if err := os.WriteFile(theirs, padded, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("veritysetup", "format", "--hash=sha256", "--data-block-size=4096",
				"--hash-block-size=4096", "--salt="+hex.EncodeToString(salt), "--uuid="+uuid,
				fmt.Sprintf("--hash-offset=%d", dataSize), theirs, theirs).CombinedOutput()
			if err != nil {
				t.Fatalf("veritysetup format: %v\n%s", err, out)
			}
			m := rootRE.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no root hash in veritysetup's output:\n%s", out)
			}
			if string(m[1]) != hex.EncodeToString(p.RootHash) {
				t.Errorf("root hash %x, veritysetup says %s", p.RootHash, m[1])
			}
			want, _ := os.ReadFile(theirs)
			if !bytes.Equal(got, want) {
				t.Errorf("our image (%d bytes) differs from veritysetup's (%d bytes) at byte %d", len(got), len(want), firstDiff(got, want))
			}
			if sb.DataBlocks != p.DataBlocks || !bytes.Equal(sb.Salt, salt) {
				t.Errorf("superblock read back as %+v", sb)
			}
			if err := Verify(bytes.NewReader(got), p); err != nil {
				t.Errorf("Verify: %v", err)
			}
			verify := func(path string) ([]byte, error) {
				return exec.Command("veritysetup", "verify", fmt.Sprintf("--hash-offset=%d", dataSize),
					path, path, hex.EncodeToString(p.RootHash)).CombinedOutput()
			}
			if out, err := verify(ours); err != nil {
				t.Errorf("veritysetup verify of our tree: %v\n%s", err, out)
			}
			// One flipped data byte: both verifiers refuse.
			got[len(data)/2] ^= 1
			if err := os.WriteFile(ours, got, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := verify(ours); err == nil {
				t.Errorf("veritysetup verify passed a flipped byte:\n%s", out)
			}
			if err := Verify(bytes.NewReader(got), p); err == nil {
				t.Error("Verify passed a flipped byte")
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestTable(t *testing.T) {
	p := Params{DataBlocks: 3328, HashOffset: 3328 * 4096, Salt: []byte{0xab, 0xcd}, RootHash: bytes.Repeat([]byte{1}, 32)}
	want := "1 /dev/vda2 /dev/vda2 4096 4096 3328 3329 sha256 " + strings.Repeat("01", 32) + " abcd"
	if got := p.Table("/dev/vda2", "/dev/vda2"); got != want {
		t.Errorf("Table = %q, want %q", got, want)
	}
	if p.Sectors() != 3328*8 {
		t.Errorf("Sectors = %d", p.Sectors())
	}
	for _, bad := range []Params{
		{}, {DataBlocks: 2, HashOffset: 4096, RootHash: p.RootHash},
		{DataBlocks: 2, HashOffset: 8193, RootHash: p.RootHash},
		{DataBlocks: 2, HashOffset: 8192, RootHash: p.RootHash[:5]},
	} {
		if bad.Check() == nil {
			t.Errorf("Check(%+v) passed", bad)
		}
	}
}
