package payload

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "key.pem")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("created key mode %o, want 600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("key file is not PEM PRIVATE KEY:\n%s", data)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Error("reloading the key gave another key")
	}
	if s := PublicKeyString(k1); len(s) != 44 {
		t.Errorf("PublicKeyString = %q, want 44 base64 chars", s)
	} else if p, err := ParsePublicKey(s); err != nil || !p.Equal(k1.Public()) {
		t.Errorf("ParsePublicKey(PublicKeyString) = %v, %v", p, err)
	}

	os.Chmod(path, 0o644)
	_, err = LoadOrCreateKey(path)
	wantErr(t, err, path, "mode 0644", "chmod 600")

	seed := filepath.Join(t.TempDir(), "seed")
	os.WriteFile(seed, []byte(base64.StdEncoding.EncodeToString(k1.Seed())+"\n"), 0o600)
	if k3, err := LoadOrCreateKey(seed); err != nil || !k3.Equal(k1) {
		t.Errorf("base64 seed: %v, %v", k3, err)
	}
	full := filepath.Join(t.TempDir(), "full")
	os.WriteFile(full, []byte(base64.StdEncoding.EncodeToString(k1)), 0o600)
	if k4, err := LoadOrCreateKey(full); err != nil || !k4.Equal(k1) {
		t.Errorf("base64 64-byte key: %v, %v", k4, err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	_, err = LoadOrCreateKey(bad)
	wantErr(t, err, bad, "neither PEM nor base64")
	os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	_, err = LoadOrCreateKey(bad)
	wantErr(t, err, "want PRIVATE KEY")
	_, err = ParsePublicKey("abc")
	wantErr(t, err, "not base64 (standard) of 32 bytes")
}

func TestSignVerify(t *testing.T) {
	_, k := newKey(t)
	_, other := newKey(t)
	data := []byte(`{"version":"1.0.0"}`)
	sig := Sign(k, data)
	if err := Verify(pub(k), data, sig, "m.json"); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	tampered := []byte(`{"version":"9.0.0"}`)
	err := Verify(pub(k), tampered, sig, "m.json")
	if !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered data: %v, want ErrBadSignature", err)
	}
	wantErr(t, err, "bad signature on m.json", "changed after signing")

	err = Verify(pub(other), data, sig, "m.json")
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other key: %v, want ErrUnknownKey", err)
	}
	wantErr(t, err, "unknown key", KeyID(pub(k)), KeyID(pub(other)), "update.public_key")

	raw, _ := base64.StdEncoding.DecodeString(string(sig))
	raw[len(raw)-1] ^= 1
	err = Verify(pub(k), data, []byte(base64.StdEncoding.EncodeToString(raw)), "m.json")
	wantErr(t, err, "bad signature on m.json")
	for _, junk := range []string{"", "!!!", base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))} {
		err = Verify(pub(k), data, []byte(junk), "m.json")
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("sig %q: %v, want ErrBadSignature", junk, err)
		}
		wantErr(t, err, "not base64 of a key ID and an ed25519 signature")
	}
}
