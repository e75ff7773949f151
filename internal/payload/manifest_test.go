package payload

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const goodManifest = `{
  "version": "1.2.0",
  "channel": "stable",
  "arch": "x86_64",
  "uki": {"path": "uki.efi", "size": 10, "sha256": "` + hex64 + `"},
  "root": {"path": "root.squashfs", "size": 20, "sha256": "` + hex64 + `"}
}`

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte(goodManifest), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{Version: "1.2.0", Channel: "stable", Arch: "x86_64",
		UKI:  Artifact{Path: "uki.efi", Size: 10, SHA256: hex64},
		Root: Artifact{Path: "root.squashfs", Size: 20, SHA256: hex64}}
	if !reflect.DeepEqual(*m, want) {
		t.Errorf("got %+v, want %+v", *m, want)
	}
	for _, c := range []struct{ old, new, want string }{
		{`"arch"`, `"signature": 1, "arch"`, `m.json: unknown key "signature"`},
		{`"size": 10,`, `"size": 10, "mode": 1,`, `unknown key "mode"`},
		{`"1.2.0"`, `"v1.2.0"`, `version "v1.2.0" is not a semantic version`},
		{`"1.2.0"`, `"1.2"`, `version "1.2" is not a semantic version`},
		{`"1.2.0"`, `"1.2.0+build5"`, `version "1.2.0+build5" is not a semantic version`},
		{`"stable"`, `"Stable"`, `channel: "Stable" may only contain`},
		{`"stable"`, `""`, `channel: missing`},
		{`"x86_64"`, `""`, `arch: missing`},
		{`"uki.efi"`, `"../uki.efi"`, `uki: path "../uki.efi" is not a plain file name`},
		{`"root.squashfs"`, `"uki.efi"`, `share the path`},
		{`"root.squashfs"`, `"manifest.json.sig"`, `keeps for itself`},
		{`"size": 10`, `"size": 0`, `uki: size 0 is not positive`},
		{`"size": 20, "sha256": "` + hex64, `"size": 20, "sha256": "` + strings.ToUpper(hex64), `root: sha256`},
		{"}\n}", "}\n}{}", "trailing data"},
		{"{\n", "[\n", "not a JSON object"},
	} {
		doc := strings.Replace(goodManifest, c.old, c.new, 1)
		if doc == goodManifest {
			t.Fatalf("replacement %q did not apply", c.old)
		}
		_, err := ParseManifest([]byte(doc), "m.json")
		wantErr(t, err, c.want)
	}
	_, err = ParseManifest([]byte("null"), "m.json")
	wantErr(t, err, "not a JSON object")
	_, err = ParseManifest(make([]byte, MaxDocSize+1), "m.json")
	wantErr(t, err, "more than the 65536")
}

func TestParsePointer(t *testing.T) {
	p, err := ParsePointer([]byte(`{"channel":"beta","version":"2.0.0-rc.1","serial":3,"expires":"2026-12-01T00:00:00Z"}`), "beta.json")
	if err != nil || *p != (Pointer{Channel: "beta", Version: "2.0.0-rc.1", Serial: 3, Expires: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}) {
		t.Fatalf("got %+v, %v", p, err)
	}
	// A pointer from an older publisher has neither: it could be replayed
	// for ever, so it is refused.
	_, err = ParsePointer([]byte(`{"channel":"beta","version":"2.0.0"}`), "beta.json")
	wantErr(t, err, "beta.json: no serial or expires", "publish again")
	_, err = ParsePointer([]byte(`{"channel":"beta","version":"2.0.0","next":"x"}`), "beta.json")
	wantErr(t, err, `beta.json: unknown key "next"`)
	_, err = ParsePointer([]byte(`{"channel":"beta"}`), "beta.json")
	wantErr(t, err, `version "" is not a semantic version`)
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0}, {"1.0.0", "1.0.1", -1}, {"1.10.0", "1.9.0", 1},
		{"2.0.0-rc.1", "2.0.0", -1}, {"2.0.0-rc.2", "2.0.0-rc.10", -1}, {"1.0.0", "junk", 1},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if err := checkUpgrade("1.0.0", "1.1.0", false); err != nil {
		t.Error(err)
	}
	wantErr(t, checkUpgrade("1.1.0", "1.0.0", false), "older than the running 1.1.0", "unless forced")
	if err := checkUpgrade("1.1.0", "1.0.0", true); err != nil {
		t.Errorf("forced downgrade: %v", err)
	}
	wantErr(t, checkUpgrade("1.1.0", "1.1.0", true), "already running")
	if err := refuseVersion("1.0.0", CheckOptions{Current: "1.0.0"}); !errors.Is(err, ErrUpToDate) {
		t.Errorf("same version: %v, want ErrUpToDate", err)
	}
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte(`{"version":"1.0.0"}`))
	f.Add([]byte(`{"uki":{"path":"a","size":-1}}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, "fuzz")
		if err != nil {
			if m != nil {
				t.Fatal("manifest with an error")
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		again, err := ParseManifest(Marshal(m), "again")
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}
