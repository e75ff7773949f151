package bootconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSize bounds a config document, wherever it comes from.
const MaxSize = 1 << 20

// Parse reads a config document strictly and validates it. source names where
// the bytes came from and starts every error message. Unknown, misspelt
// (case included) or repeated fields, values of the wrong JSON type, syntax
// errors and trailing data are errors with the field's JSON path and the
// line:column; then Validate's problems follow, all of them.
func Parse(data []byte, source string) (*Config, error) {
	p := &problems{source: source}
	if len(data) > MaxSize {
		p.add("", "the document is %d bytes, more than the %d allowed", len(data), MaxSize)
		return nil, p.err()
	}
	if !utf8.Valid(data) {
		off := invalidUTF8(data)
		p.add("", "invalid UTF-8 at %s: save the file as UTF-8", position(data, off))
		return nil, p.err()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		p.add("", `the document is empty: want a JSON object, at least {}`)
		return nil, p.err()
	}
	w := &walker{data: data, dec: json.NewDecoder(bytes.NewReader(data)), p: p}
	w.dec.UseNumber()
	if err := w.document(); err != nil {
		p.add("", "%s", err)
		return nil, p.err()
	}
	if w.badType {
		return nil, p.err() // Validate would only echo the missing values
	}
	// Unknown and repeated fields are reported; Validate's problems follow.
	cfg := &Config{}
	if err := json.Unmarshal(data, cfg); err != nil {
		// The walk accepted what Unmarshal refuses: a bug here, but say what.
		p.add("", "%v", err)
		return nil, p.err()
	}
	cfg.validate(p)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return cfg, nil
}

// Marshal writes cfg as indented JSON with a final newline, after
// validating it. Equal configs give equal bytes (map keys are sorted), and
// Parse reads the output back to an equal config.
func Marshal(cfg *Config) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bootconfig: refusing to write an invalid config:\n%w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // unit files have && and <, keep them readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("bootconfig: marshal: %w", err)
	}
	return b.Bytes(), nil
}

// walker checks the token stream against Config's Go types, so that every
// problem gets a JSON path with indices and a line:column, which
// encoding/json's own errors lack. It also catches what encoding/json lets
// through: case-insensitive key matches and repeated keys.
type walker struct {
	data []byte
	dec  *json.Decoder
	p    *problems
	// badType is set when a value had the wrong JSON type.
	badType bool
}

// document walks the top-level object and checks for trailing data. A
// non-nil error is a syntax error that ends the walk; type problems are
// added to w.p and the walk goes on.
func (w *walker) document() error {
	if err := w.value(reflect.TypeFor[Config](), ""); err != nil {
		return err
	}
	off := w.tokenStart(w.dec.InputOffset())
	if _, err := w.dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON object at %s: a config is exactly one object", position(w.data, off))
	}
	return nil
}

func (w *walker) next() (json.Token, int, error) {
	off := w.tokenStart(w.dec.InputOffset())
	tok, err := w.dec.Token()
	if err != nil {
		return nil, off, w.syntax(err, off)
	}
	return tok, off, nil
}

// syntax turns a decoder error into one with a line:column.
func (w *walker) syntax(err error, off int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The stream decoder's offsets are relative to where it started
		// the value; Unmarshal scans the whole document and meets the same
		// first error at an absolute offset.
		var v any
		var whole *json.SyntaxError
		if errors.As(json.Unmarshal(w.data, &v), &whole) {
			se = whole
		}
	}
	switch {
	case se != nil:
		at := int(se.Offset) - 1
		if at < 0 {
			at = 0
		}
		msg := strings.TrimPrefix(se.Error(), "json: ")
		return fmt.Errorf("JSON syntax error at %s: %s", position(w.data, at), msg)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the document ends early at %s: a '}' or ']' is missing", position(w.data, len(w.data)))
	}
	return fmt.Errorf("at %s: %v", position(w.data, off), err)
}

func (w *walker) value(t reflect.Type, path string) error {
	tok, off, err := w.next()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil // null leaves the field at its default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			ok = false
			break
		}
		return w.object(path, off, func(k string, koff int) (reflect.Type, string, bool) {
			f, found := fieldByName(t, k)
			if !found {
				w.unknown(t, path, k, koff)
				return nil, "", false
			}
			return f.Type, field(path, k), true
		})
	case reflect.Map:
		if tok != json.Delim('{') {
			ok = false
			break
		}
		return w.object(path, off, func(k string, _ int) (reflect.Type, string, bool) {
			return t.Elem(), key(path, k), true
		})
	case reflect.Slice:
		if tok != json.Delim('[') {
			ok = false
			break
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(t.Elem(), index(path, i)); err != nil {
				return err
			}
		}
		_, _, err := w.next()
		return err
	case reflect.String:
		_, ok = tok.(string)
	case reflect.Bool:
		_, ok = tok.(bool)
	case reflect.Int:
		n, isNum := tok.(json.Number)
		if isNum {
			if _, err := strconv.ParseInt(string(n), 10, 0); err != nil {
				w.p.add(pathOrTop(path), "%s at %s is not a whole number in range", n, position(w.data, off))
				w.badType = true
			}
		} else {
			ok = false
		}
	default:
		panic("bootconfig: no walk for " + t.String())
	}
	if !ok {
		w.p.add(pathOrTop(path), "want %s, got %s at %s", kindName(t), tokenName(tok), position(w.data, off))
		w.badType = true
		return w.skip(tok)
	}
	return nil
}

// object walks the members of an object whose '{' was read at off. member
// says what type a key's value has and its path, or false to skip it.
func (w *walker) object(path string, off int, member func(k string, koff int) (reflect.Type, string, bool)) error {
	seen := map[string]int{}
	for w.dec.More() {
		ktok, koff, err := w.next()
		if err != nil {
			return err
		}
		k := ktok.(string) // object keys are always strings
		if first, dup := seen[k]; dup {
			w.p.add(pathOrTop(path), "field %q appears twice, at %s and at %s: keep one", k, position(w.data, first), position(w.data, koff))
		}
		seen[k] = koff
		t, p, ok := member(k, koff)
		if !ok {
			if err := w.skipValue(); err != nil {
				return err
			}
			continue
		}
		if err := w.value(t, p); err != nil {
			return err
		}
	}
	_, _, err := w.next() // '}'
	return err
}

func (w *walker) unknown(t reflect.Type, path, k string, off int) {
	known := jsonNames(t)
	where := "at top level"
	if path != "" {
		where = "in " + path
	}
	hint := ""
	if s := suggest(k, known); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	w.p.add("", "unknown field %q %s, %s (known: %s)%s", k, where, position(w.data, off), strings.Join(known, ", "), hint)
}

// skipValue reads and discards one whole value.
func (w *walker) skipValue() error {
	tok, _, err := w.next()
	if err != nil {
		return err
	}
	return w.skip(tok)
}

// skip discards the rest of a value whose first token was tok.
func (w *walker) skip(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, _, err := w.next()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// tokenStart moves off past the whitespace, ':' and ',' that the decoder
// leaves before the next token, so positions point at the token itself.
func (w *walker) tokenStart(off int64) int {
	i := int(off)
	for i < len(w.data) {
		switch w.data[i] {
		case ' ', '\t', '\r', '\n', ':', ',':
			i++
			continue
		}
		break
	}
	return i
}

func pathOrTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// fieldByName finds the struct field whose JSON name is exactly k.
func fieldByName(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if jsonName(f) == k {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object {...}"
	case reflect.Slice:
		return "an array [...]"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "a whole number"
	}
	return t.String()
}

func tokenName(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(tok)
}

// suggest returns the known name that k most likely misspells, or "".
func suggest(k string, known []string) string {
	best, bestD := "", 3 // at most two edits away
	for _, n := range known {
		if strings.EqualFold(n, k) {
			return n
		}
		if d := editDistance(strings.ToLower(k), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // long keys are no misspelling of ours; keep the fuzzer fast
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// position gives the 1-based line:column of byte offset off in data.
func position(data []byte, off int) string {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d:%d", line, col)
}

func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}
