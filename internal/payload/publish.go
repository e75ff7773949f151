package payload

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Published says what Publish did.
type Published struct {
	Manifest *Manifest
	Dir      string // SERVEDIR/<version>
	// Pointer is the channel pointer's version after Publish: this version,
	// or a newer one already there (Moved false). Either way the pointer is
	// signed again, with the next Serial and a new Expires.
	Pointer string
	Moved   bool
	Serial  uint64
	Expires time.Time
}

// PublishOptions are Publish's knobs; the zero value is the default.
type PublishOptions struct {
	// Force republishes a version whose files differ and lets the pointer
	// move backwards (its serial still grows).
	Force bool
	// Validity is how long the signed pointer is good for; 0 means
	// DefaultPointerValidity.
	Validity time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Publish signs the payload in payloadDir (manifest.json beside the files
// it names) with the key at keyPath (created if absent) and adds it to the
// static server directory serveDir: the files and manifest.json(.sig) under
// serveDir/<version>/, then the channel pointer serveDir/<channel>.json(.sig)
// when this version is newer than the one it names (otherwise the pointer
// keeps its version but is signed again: the next serial, a new expiry, so
// publishing is also how a publisher keeps a channel's pointer fresh).
// Every file is replaced atomically, the pointer last, so a server never
// shows a pointer to a half-published version.
func Publish(keyPath, payloadDir, serveDir string, o PublishOptions) (*Published, error) {
	force := o.Force
	if o.Validity == 0 {
		o.Validity = DefaultPointerValidity
	}
	if o.Validity < 0 {
		return nil, fmt.Errorf("publish: pointer validity %v is not positive", o.Validity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	priv, err := LoadOrCreateKey(keyPath)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(payloadDir, "manifest.json")
	mdata, err := os.ReadFile(mpath)
	if err != nil {
		return nil, fmt.Errorf("payload: %w (give the payload directory image-build wrote, DIR/payload)", err)
	}
	m, err := ParseManifest(mdata, mpath)
	if err != nil {
		return nil, err
	}
	for _, a := range []Artifact{m.UKI, m.Root} {
		sum, n, err := HashFile(filepath.Join(payloadDir, a.Path))
		if err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		if n != a.Size || sum != a.SHA256 {
			return nil, fmt.Errorf("payload: %s is %d bytes with sha256 %s, but %s says %d bytes, %s: rebuild the payload", a.Path, n, sum, mpath, a.Size, a.SHA256)
		}
	}
	vdir := filepath.Join(serveDir, m.Version)
	if old, err := os.ReadFile(filepath.Join(vdir, "manifest.json")); err == nil && !bytes.Equal(old, mdata) && !force {
		return nil, fmt.Errorf("publish: %s already holds a different %s: nodes may be downloading it; publish a new version, or force", vdir, m.Version)
	}
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	for _, a := range []Artifact{m.UKI, m.Root} {
		sum, n, err := copyFileAtomic(filepath.Join(payloadDir, a.Path), filepath.Join(vdir, a.Path))
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if n != a.Size || sum != a.SHA256 {
			return nil, fmt.Errorf("publish: %s changed while it was copied: publish again", a.Path)
		}
	}
	if err := writeSigned(priv, filepath.Join(vdir, "manifest.json"), mdata); err != nil {
		return nil, err
	}
	res := &Published{Manifest: m, Dir: vdir, Pointer: m.Version, Moved: true, Serial: 1}
	ppath := filepath.Join(serveDir, m.Channel+".json")
	if old, err := os.ReadFile(ppath); err == nil {
		p, err := decodePointer(old, ppath)
		if err != nil && !force {
			return nil, fmt.Errorf("publish: %w: fix or remove it, or force", err)
		}
		if err == nil {
			res.Serial = p.Serial + 1
			if Compare(p.Version, m.Version) >= 0 && !force {
				res.Pointer, res.Moved = p.Version, false
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("publish: %w", err)
	}
	res.Expires = o.Now().UTC().Add(o.Validity).Truncate(time.Second)
	ptr := Pointer{Channel: m.Channel, Version: res.Pointer, Serial: res.Serial, Expires: res.Expires}
	if err := writeSigned(priv, ppath, Marshal(ptr)); err != nil {
		return nil, err
	}
	return res, nil
}

// writeSigned writes path.sig and then path, atomically each. A reader
// that sees the new path sees its signature (the old path stays valid only
// with the old signature, so a reader in between gets a bad signature and
// tries again on its next poll).
func writeSigned(priv []byte, path string, data []byte) error {
	if err := WriteFileAtomic(path+".sig", Sign(priv, data), 0o644); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}
