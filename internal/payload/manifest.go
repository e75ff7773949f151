package payload

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Arch is the only architecture Flotilla builds.
const Arch = "x86_64"

// MaxDocSize bounds a manifest or channel pointer (and their signatures) as
// read from a file or the network.
const MaxDocSize = 64 << 10

// Manifest describes one version's payload: manifest.json.
type Manifest struct {
	Version string   `json:"version"`
	Channel string   `json:"channel"`
	Arch    string   `json:"arch"`
	UKI     Artifact `json:"uki"`
	Root    Artifact `json:"root"`
}

// Artifact is one file of a payload. Path is a plain file name beside
// manifest.json.
type Artifact struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Pointer is a channel's pointer file, CHANNEL.json: the newest version
// published on that channel.
//
// Serial and Expires stop a server (or anyone between it and the node) from
// replaying an older signed pointer: Serial grows by one every time the
// pointer is signed, and a node refuses a serial below the highest it has
// seen; Expires bounds how long a pointer can be served unchanged, so a
// server cannot freeze a node on an old version either. `updater publish`
// re-signs the pointer (a new serial and expiry) every time it runs.
type Pointer struct {
	Channel string    `json:"channel"`
	Version string    `json:"version"`
	Serial  uint64    `json:"serial"`
	Expires time.Time `json:"expires"`
}

// DefaultPointerValidity is how long `updater publish` signs a pointer for:
// the publisher must publish (or re-publish) within that time.
const DefaultPointerValidity = 7 * 24 * time.Hour

// ParseManifest decodes manifest.json strictly (an unknown key, a second
// document or trailing data is an error) and validates it. from names the
// source in errors.
func ParseManifest(data []byte, from string) (*Manifest, error) {
	var m Manifest
	if err := strictDecode(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return &m, nil
}

// ParsePointer decodes a channel pointer strictly and validates it: a
// pointer without a serial or an expiry (written by an older publisher) is
// refused, as it could be replayed forever.
func ParsePointer(data []byte, from string) (*Pointer, error) {
	p, err := decodePointer(data, from)
	if err != nil {
		return nil, err
	}
	if p.Serial == 0 || p.Expires.IsZero() {
		return nil, fmt.Errorf("%s: no serial or expires: the pointer was signed by an older `updater publish`; publish again with this one", from)
	}
	return p, nil
}

// decodePointer is ParsePointer without the replay fields, for Publish to
// read the pointer it replaces.
func decodePointer(data []byte, from string) (*Pointer, error) {
	var p Pointer
	if err := strictDecode(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	if err := validChannel(p.Channel); err != nil {
		return nil, fmt.Errorf("%s: channel: %w", from, err)
	}
	if !ValidVersion(p.Version) {
		return nil, fmt.Errorf("%s: version %q is not a semantic version such as 1.2.0", from, p.Version)
	}
	return &p, nil
}

// Marshal is the canonical encoding (indented, final newline) that Publish
// writes and signs.
func Marshal(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return append(b, '\n')
}

// strictDecode rejects unknown keys (naming them), null for the document,
// and anything after the one JSON value.
func strictDecode(data []byte, v any) error {
	if len(data) > MaxDocSize {
		return fmt.Errorf("%d bytes is more than the %d a manifest may have", len(data), MaxDocSize)
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("unknown key %s: this updater does not know it (newer format, or a typo)", name)
		}
		return fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Validate checks every field: a semver version, a channel name, an
// architecture, and for each artifact a plain file name, a positive size
// and 64 hex digits of sha256.
func (m *Manifest) Validate() error {
	if !ValidVersion(m.Version) {
		return fmt.Errorf("version %q is not a semantic version such as 1.2.0", m.Version)
	}
	if err := validChannel(m.Channel); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if m.Arch == "" {
		return errors.New("arch: missing (want " + Arch + ")")
	}
	if err := m.UKI.validate(); err != nil {
		return fmt.Errorf("uki: %w", err)
	}
	if err := m.Root.validate(); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	if m.UKI.Path == m.Root.Path {
		return fmt.Errorf("uki and root share the path %q", m.UKI.Path)
	}
	return nil
}

func (a *Artifact) validate() error {
	switch {
	case a.Path == "" || a.Path == "." || a.Path == ".." || strings.ContainsAny(a.Path, "/\\\x00"):
		return fmt.Errorf("path %q is not a plain file name", a.Path)
	case strings.HasSuffix(a.Path, ".part") || strings.HasPrefix(a.Path, "manifest.json"):
		return fmt.Errorf("path %q is a name the updater keeps for itself", a.Path)
	case a.Size <= 0:
		return fmt.Errorf("size %d is not positive", a.Size)
	}
	if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != 32 || strings.ToLower(a.SHA256) != a.SHA256 {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", a.SHA256)
	}
	return nil
}

func validChannel(c string) error {
	if c == "" {
		return errors.New("missing (e.g. stable)")
	}
	if strings.Trim(c, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("%q may only contain a-z, 0-9 and '-'", c)
	}
	return nil
}
