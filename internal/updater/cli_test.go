package updater

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/payload"
)

func run(t *testing.T, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestCommands(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	out, _, code := run(t, "keygen", "--key", key)
	if code != 0 {
		t.Fatal("keygen failed")
	}
	if _, err := payload.ParsePublicKey(strings.TrimSpace(out)); err != nil {
		t.Errorf("keygen printed %q: %v", out, err)
	}
	again, _, _ := run(t, "keygen", "--key", key)
	if again != out {
		t.Errorf("keygen on an existing key printed another public key")
	}

	w := newWorld(t)
	w.key = key
	w.publish("1.0.0") // through payload.Publish; now the command:
	dir := filepath.Join(t.TempDir(), "payload")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "uki.efi"), []byte("u"), 0o644)
	os.WriteFile(filepath.Join(dir, "root.squashfs"), []byte("r"), 0o644)
	m := payload.Manifest{Version: "0.9.0", Channel: "stable", Arch: payload.Arch,
		UKI:  payload.Artifact{Path: "uki.efi", Size: 1, SHA256: "0bfe935e70c321c7ca3afc75ce0d0ca2f98b5422e008bb31c00c6d7f1f1c0ad6"},
		Root: payload.Artifact{Path: "root.squashfs", Size: 1, SHA256: "454349e422f05297191ead13e21d3db520e5abef52055e4964b82fb213f593a1"}}
	os.WriteFile(filepath.Join(dir, "manifest.json"), payload.Marshal(m), 0o644)
	stdout, stderr, code := run(t, "publish", "--key", key, "--out", w.out, dir)
	if code != 0 || !strings.Contains(stdout, "published 0.9.0") || !strings.Contains(stdout, "stable.json stays at 1.0.0") {
		t.Errorf("publish older: %d %q %q", code, stdout, stderr)
	}
	_, stderr, code = run(t, "publish", "--key", key, dir)
	if code != 1 || !strings.Contains(stderr, `"out" not set`) {
		t.Errorf("publish without --out: %d %q", code, stderr)
	}
	_, stderr, code = run(t, "check", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if code != 1 || !strings.Contains(stderr, "is `updater daemon` running?") {
		t.Errorf("check without a daemon: %d %q", code, stderr)
	}
	_, stderr, code = run(t, "set-max", "x")
	if code != 1 || !strings.Contains(stderr, `set-max "x": want a number`) {
		t.Errorf("set-max x: %d %q", code, stderr)
	}
}
