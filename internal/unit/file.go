package unit

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

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
	// Warnings name the lines Parse skipped, as systemd skips them with a
	// warning: an assignment before the first section, a line without
	// '=', an option name systemd could never know. Not serialised.
	Warnings []string
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
	if e.Section != "" {
		b.WriteString(": [")
		b.WriteString(e.Section)
		b.WriteString("]")
	}
	if e.Field != "" {
		if e.Section != "" {
			b.WriteString(" ")
		} else {
			b.WriteString(": ")
		}
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Parse parses the contents of unit file name with systemd's rules: lines
// ending in a backslash continue on the next line (the backslash becomes a
// space, comment lines inside a continuation are skipped), blank lines and
// lines starting with '#' or ';' are comments, "[Section]" starts a section and
// every other line is Name=Value with surrounding whitespace trimmed. The
// result is independent of the input's formatting.
//
// Lines systemd's config_parse only warns about are skipped with a warning
// in File.Warnings: an assignment before the first section ("Assignment
// outside of section. Ignoring."), a line without '=' ("Missing '=',
// ignoring line."), and an option whose name is empty or holds characters
// no key has (systemd: "Unknown key name, ignoring").
//
// It does not use go-systemd's lexer, which limits lines to 2048 bytes (real
// ExecStart lines are longer), starts a section at any '[' met before the
// first section and lets section names span lines. Parse rejects invalid
// UTF-8, control characters and malformed section headers; it never panics.
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Unit: name, Msg: fmt.Sprintf("unit file is %d bytes, more than the %d allowed", len(data), MaxFileSize)}
	}
	bad := func(line int, format string, args ...any) (*File, error) {
		return nil, &Error{Unit: name, Msg: fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)}
	}
	if !utf8.Valid(data) {
		return nil, &Error{Unit: name, Msg: "unit file is not valid UTF-8"}
	}
	f := &File{}
	warn := func(line int, format string, args ...any) {
		f.Warnings = append(f.Warnings, fmt.Sprintf("unit %s: line %d: ", name, line)+fmt.Sprintf(format, args...))
	}
	section := ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		l := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		// Join continuation lines; systemd skips comments inside them.
		if strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			var b strings.Builder
			for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
				i++
				next := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
				if next != "" && (next[0] == '#' || next[0] == ';') {
					continue // l still ends in a backslash
				}
				b.WriteString(l[:len(l)-1])
				b.WriteByte(' ')
				l = next
			}
			b.WriteString(l)
			l = b.String()
		}
		// A backslash on the last line continues onto nothing.
		l = strings.TrimRightFunc(l, func(r rune) bool { return r == '\\' || unicode.IsSpace(r) })
		if l == "" {
			continue
		}
		if strings.IndexFunc(l, isControl) >= 0 {
			return bad(lineNo, "control character in line")
		}
		if l[0] == '[' {
			if l[len(l)-1] != ']' {
				return bad(lineNo, "section header %q does not end in ']'", l)
			}
			section = l[1 : len(l)-1]
			if msg := checkSection(section); msg != "" {
				return bad(lineNo, "%s", msg)
			}
			continue
		}
		eq := strings.IndexByte(l, '=')
		if eq < 0 {
			warn(lineNo, "%q has no '=', ignoring the line (as systemd does)", l)
			continue
		}
		if section == "" {
			warn(lineNo, "assignment %q comes before the first [Section], ignoring it (as systemd does)", l)
			continue
		}
		o := Option{Section: section, Name: strings.TrimSpace(l[:eq]), Value: strings.TrimSpace(l[eq+1:])}
		if msg := checkName(o.Name); msg != "" {
			warn(lineNo, "%s; ignoring the line (systemd knows no such key)", msg)
			continue
		}
		f.Options = append(f.Options, o)
	}
	return f, nil
}

func isControl(r rune) bool { return r != '\t' && unicode.IsControl(r) }

func checkSection(s string) string {
	if s == "" {
		return "empty section name"
	}
	if strings.ContainsAny(s, "[]") || strings.IndexFunc(s, isControl) >= 0 {
		return fmt.Sprintf("section name %q may not contain '[', ']' or control characters", s)
	}
	return ""
}

func checkName(n string) string {
	if n == "" {
		return "option with an empty name"
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Sprintf("option name %q may only contain letters, digits and \"-_.\"", n)
		}
	}
	return ""
}

// Check reports, as an *Error naming unit, options that Parse could not have
// produced and that would not survive String and Parse unchanged: bad section
// or option names, values with line breaks, control characters, surrounding
// whitespace or a trailing backslash. Files from Parse always pass; use it on
// files built with FromOptions from API input.
func (f *File) Check(unit string) error {
	for _, o := range f.Options {
		bad := func(msg string) error { return &Error{Unit: unit, Section: o.Section, Field: o.Name, Msg: msg} }
		if msg := checkSection(o.Section); msg != "" {
			return bad(msg)
		}
		if msg := checkName(o.Name); msg != "" {
			return bad(msg)
		}
		switch v := o.Value; {
		case !utf8.ValidString(v):
			return bad("value is not valid UTF-8")
		case strings.IndexFunc(v, isControl) >= 0:
			return bad("value contains a line break or control character; join continued lines with spaces")
		case strings.TrimSpace(v) != v:
			return bad("value has leading or trailing whitespace")
		case strings.HasSuffix(v, "\\"):
			return bad("value ends in a backslash, which would continue it onto the next line")
		}
	}
	return nil
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
