package diskimage

import (
	"bytes"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const testEpoch = 1700000000 // 2023-11-14 22:13:20 UTC

// run runs a host tool and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testTree is a small root filesystem: a host file of a few blocks, literal
// files, dangling absolute and relative symlinks, dirs with odd modes.
func testTree(t *testing.T) (*Tree, map[string][]byte) {
	t.Helper()
	big := make([]byte, 300<<10+123) // two full 128K blocks and a fragment
	rand.New(rand.NewSource(1)).Read(big)
	src := filepath.Join(t.TempDir(), "fleetd")
	if err := os.WriteFile(src, big, 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"bin/fleetd":         big,
		"etc/hosts":          []byte("127.0.0.1 localhost\n"),
		"etc/empty":          {},
		"etc/flotilla/slot":  []byte("A\n"),
		"loader/loader.conf": []byte("timeout 3\ndefault flotilla-*\n"),
	}
	var tr Tree
	for _, err := range []error{
		tr.AddFile("bin/fleetd", src, 0o755),
		tr.AddBytes("etc/hosts", want["etc/hosts"], 0o644),
		tr.AddBytes("etc/empty", nil, 0o600),
		tr.AddBytes("etc/flotilla/slot", want["etc/flotilla/slot"], 0o444),
		tr.AddBytes("loader/loader.conf", want["loader/loader.conf"], 0o644),
		tr.AddDir("var", 0o700),
		tr.AddDir("tmp", 0o777|fs.ModeSticky),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &tr, want
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ: not reproducible", a, b)
	}
}
