package payload

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sentinel errors of Verify, for errors.Is.
var (
	ErrBadSignature = errors.New("payload: bad signature")
	ErrUnknownKey   = errors.New("payload: signed by an unknown key")
)

const keyIDLen = 8

// LoadOrCreateKey reads the ed25519 private key at path, a PEM "PRIVATE
// KEY" (PKCS #8) or base64 of the 32-byte seed or 64-byte key, or creates
// it (PEM, mode 0600) when the file does not exist. A key file that group
// or others can read is refused.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is mode %04o: others may read it; chmod 600 %s", path, st.Mode().Perm(), path)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

func createKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return priv, nil
}

// ParsePrivateKey reads a PEM PKCS #8 ed25519 key or base64 of a 32-byte
// seed or 64-byte private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block is %q: want PRIVATE KEY (PKCS #8 ed25519, as `updater keygen` writes)", blk.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #8: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is a %T: want ed25519", k)
		}
		return ek, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("neither PEM nor base64: want the file `updater keygen` writes")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		k := ed25519.PrivateKey(raw)
		if !bytes.Equal(ed25519.NewKeyFromSeed(k.Seed()), k) {
			return nil, errors.New("64-byte key whose public half does not match its seed")
		}
		return k, nil
	}
	return nil, fmt.Errorf("base64 of %d bytes: want a 32-byte seed or a 64-byte ed25519 key", len(raw))
}

// PublicKeyString is the public half of priv as bootconfig's
// update.public_key holds it: base64 (standard) of its 32 bytes.
func PublicKeyString(priv ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
}

// ParsePublicKey reads update.public_key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q is not base64 (standard) of 32 bytes: copy it from `updater keygen`", s)
	}
	return ed25519.PublicKey(raw), nil
}

// KeyID names a public key in signatures and messages: 16 hex digits.
func KeyID(pub ed25519.PublicKey) string {
	return hex.EncodeToString(keyID(pub))
}

func keyID(pub ed25519.PublicKey) []byte {
	s := sha256.Sum256(pub)
	return s[:keyIDLen]
}

// Sign returns the .sig file contents for data: base64 of key ID and
// signature, with a final newline.
func Sign(priv ed25519.PrivateKey, data []byte) []byte {
	raw := append(keyID(priv.Public().(ed25519.PublicKey)), ed25519.Sign(priv, data)...)
	return []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
}

// Verify checks sig (a .sig file's contents) over data with pub. from
// names the signed file in errors. A signature by another key wraps
// ErrUnknownKey; a malformed or wrong one wraps ErrBadSignature.
func Verify(pub ed25519.PublicKey, data, sig []byte, from string) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(raw) != keyIDLen+ed25519.SignatureSize {
		return fmt.Errorf("%w on %s: the .sig file is not base64 of a key ID and an ed25519 signature (%d bytes)", ErrBadSignature, from, keyIDLen+ed25519.SignatureSize)
	}
	if id := raw[:keyIDLen]; !bytes.Equal(id, keyID(pub)) {
		return fmt.Errorf("%w: %s is signed by key %x, this node trusts key %s (update.public_key): publish with the key whose public half the node has", ErrUnknownKey, from, id, KeyID(pub))
	}
	if !ed25519.Verify(pub, data, raw[keyIDLen:]) {
		return fmt.Errorf("%w on %s: it was changed after signing (or the signature was): nothing from it is used", ErrBadSignature, from)
	}
	return nil
}
