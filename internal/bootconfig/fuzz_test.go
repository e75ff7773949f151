package bootconfig

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error line starts
// with the source and is an *Error, and that what Parse accepts is valid
// and survives Marshal: Marshal's output parses back and marshals to the
// same bytes. The seeds are the table tests' documents.
func FuzzParse(f *testing.F) {
	for _, c := range parseCases(f) {
		if len(c.doc) < 64<<10 { // the too-big case only slows the fuzzer
			f.Add([]byte(c.doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const src = "fuzz.json"
		cfg, err := Parse(data, src)
		if err != nil {
			if cfg != nil {
				t.Fatal("config and error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not *Error", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, src+": ") {
					t.Fatalf("error line without the source: %q", line)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out, err := Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		cfg2, err := Parse(out, "marshalled")
		if err != nil {
			t.Fatalf("Marshal's output does not parse: %v\n%s", err, out)
		}
		out2, err := Marshal(cfg2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("Marshal is not a fixed point (%v):\n%s\n%s", err, out, out2)
		}
	})
}
