package unit

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	sdunit "github.com/coreos/go-systemd/v22/unit"
)

// MaxFileSize bounds a unit file (and the API body carrying one).
const MaxFileSize = 64 << 10

// Option is one Name=Value line of a unit file. JSON tags follow fleet's v1 API.
type Option struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Value   string `json:"value"`
}

// File is a parsed unit file: its options in file order (repeated keys kept).
type File struct {
	Options []Option
}

// Error is a user-facing error about a unit: which unit, which field, what to do.
type Error struct {
	Unit    string // unit name, e.g. "web@1.service"
	Section string // e.g. "X-Fleet"; empty when not about one section
	Field   string // e.g. "MachineOf"; empty when not about one field
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("unit ")
	b.WriteString(e.Unit)
	if e.Section != "" || e.Field != "" {
		b.WriteString(": [")
		b.WriteString(e.Section)
		b.WriteString("]")
		if e.Field != "" {
			b.WriteString(" ")
			b.WriteString(e.Field)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Parse parses the contents of unit file name. Continuation lines are joined,
// comments dropped; the result is independent of the input's formatting.
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Unit: name, Msg: fmt.Sprintf("unit file is %d bytes, more than the %d allowed", len(data), MaxFileSize)}
	}
	opts, err := sdunit.DeserializeOptions(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{Unit: name, Msg: "malformed unit file: " + err.Error()}
	}
	f := &File{Options: make([]Option, 0, len(opts))}
	for _, o := range opts {
		f.Options = append(f.Options, Option{Section: o.Section, Name: o.Name, Value: normaliseValue(o.Value)})
	}
	return f, nil
}

// normaliseValue removes the backslash-newline sequences go-systemd keeps in
// continued values, so that a unit's hash does not depend on its line breaks.
func normaliseValue(v string) string {
	if !strings.Contains(v, "\\\n") {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(strings.ReplaceAll(v, "\\\n", " "))
}

// FromOptions builds a File from options (as received over the API).
func FromOptions(opts []Option) *File {
	return &File{Options: append([]Option(nil), opts...)}
}

// String serialises the file canonically: sections in first-seen order, options
// in file order within each section.
func (f *File) String() string {
	opts := make([]*sdunit.UnitOption, len(f.Options))
	for i := range f.Options {
		o := f.Options[i]
		opts[i] = &sdunit.UnitOption{Section: o.Section, Name: o.Name, Value: o.Value}
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(sdunit.Serialize(opts))
	return b.String()
}

// Hash is the hex SHA-1 of the canonical serialisation, as fleet computed it.
func (f *File) Hash() string {
	sum := sha1.Sum([]byte(f.String()))
	return hex.EncodeToString(sum[:])
}

// Values returns every value of section/name in file order.
func (f *File) Values(section, name string) []string {
	var vs []string
	for _, o := range f.Options {
		if o.Section == section && o.Name == name {
			vs = append(vs, o.Value)
		}
	}
	return vs
}

// Value returns the last value of section/name, as systemd reads a single-valued key.
func (f *File) Value(section, name string) (string, bool) {
	vs := f.Values(section, name)
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// Section returns the options of one section in file order.
func (f *File) Section(section string) []Option {
	var os []Option
	for _, o := range f.Options {
		if o.Section == section {
			os = append(os, o)
		}
	}
	return os
}
