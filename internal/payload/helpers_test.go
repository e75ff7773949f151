package payload

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// makePayload writes DIR/payload as image-build does: uki.efi, root.squashfs
// and manifest.json, with random contents of the given sizes.
func makePayload(t *testing.T, version, channel, arch string, ukiSize, rootSize int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "payload")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := Manifest{Version: version, Channel: channel, Arch: arch}
	m.UKI = writeRandom(t, filepath.Join(dir, "uki.efi"), ukiSize)
	m.Root = writeRandom(t, filepath.Join(dir, "root.squashfs"), rootSize)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), Marshal(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeRandom(t *testing.T, path string, n int) Artifact {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return Artifact{Path: filepath.Base(path), Size: int64(n), SHA256: hex.EncodeToString(s[:])}
}

func newKey(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	k, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// wantErr fails unless err is non-nil and contains every fragment.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}
