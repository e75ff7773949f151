package uki

import (
	"bytes"
	"crypto/sha256"
	"debug/pe"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func buildForSlotTest(t *testing.T, cmdline string) []byte {
	t.Helper()
	needStub(t)
	opts := testOptions(t)
	opts.Cmdline = cmdline
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, opts.Out)
}

func cmdlineOf(t *testing.T, image []byte) string {
	t.Helper()
	f, err := pe.NewFile(bytes.NewReader(image))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".cmdline")
	if s == nil {
		t.Fatal("no .cmdline")
	}
	b, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:s.VirtualSize])
}

func TestForSlot(t *testing.T) {
	const cmd = "flotilla.slot=A console=ttyS0,115200 random.trust_cpu=on panic=10 loglevel=4"
	img := buildForSlotTest(t, cmd)
	var out bytes.Buffer
	if err := ForSlot(bytes.NewReader(img), &out, "B"); err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()
	if len(got) != len(img) {
		t.Fatalf("length %d, want %d", len(got), len(img))
	}
	var diff []int
	for i := range img {
		if img[i] != got[i] {
			diff = append(diff, i)
		}
	}
	if len(diff) != 1 || img[diff[0]] != 'A' || got[diff[0]] != 'B' {
		t.Fatalf("differing offsets %v, want exactly one A->B", diff)
	}
	if c := cmdlineOf(t, got); c != strings.Replace(cmd, "slot=A", "slot=B", 1) {
		t.Errorf(".cmdline after ForSlot B: %q", c)
	}
	// And back: B -> A is the original.
	var back bytes.Buffer
	if err := ForSlot(bytes.NewReader(got), &back, "A"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Bytes(), img) {
		t.Error("ForSlot A of the B image is not the original")
	}
	sum := sha256.Sum256(got)
	h, err := SlotHash(bytes.NewReader(img), "B")
	if err != nil {
		t.Fatal(err)
	}
	if h != hex.EncodeToString(sum[:]) {
		t.Errorf("SlotHash %s, want %x", h, sum)
	}
}

func TestForSlotDecoy(t *testing.T) {
	needStub(t)
	opts := testOptions(t)
	opts.Cmdline = "console=ttyS0 flotilla.slot=A"
	// .osrel comes before .cmdline: a search of the whole file would
	// patch this decoy instead.
	opts.OSRelease = "ID=flotilla\nVERSION_ID=1\nX=flotilla.slot=A\n"
	if err := Build(opts); err != nil {
		t.Fatal(err)
	}
	img := mustRead(t, opts.Out)
	var out bytes.Buffer
	if err := ForSlot(bytes.NewReader(img), &out, "B"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out.Bytes(), []byte("X=flotilla.slot=A")) {
		t.Error("the .osrel decoy was patched")
	}
	if c := cmdlineOf(t, out.Bytes()); c != "console=ttyS0 flotilla.slot=B" {
		t.Errorf(".cmdline %q", c)
	}
}

func TestForSlotErrors(t *testing.T) {
	img := buildForSlotTest(t, "console=ttyS0")
	for _, c := range []struct {
		name string
		in   []byte
		slot string
		want string
	}{
		{"no key", img, "B", "has no flotilla.slot="},
		{"bad slot", img, "C", `slot "C"`},
		{"not PE", bytes.Repeat([]byte{0}, 4096), "B", "not a PE image"},
		{"empty", nil, "B", "truncated"},
		{"headers only", img[:0x200], "B", "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := ForSlot(bytes.NewReader(c.in), &out, c.slot)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", out.Len())
			}
		})
	}
}

// TestForSlotPayload patches the image image-build made, when one is there
// (FLOTILLA_UKI=path), the way the updater will.
func TestForSlotPayload(t *testing.T) {
	p := os.Getenv("FLOTILLA_UKI")
	if p == "" {
		t.Skip("set FLOTILLA_UKI to an image-build payload/uki.efi to patch a real image")
	}
	img := mustRead(t, p)
	var out bytes.Buffer
	if err := ForSlot(bytes.NewReader(img), &out, "B"); err != nil {
		t.Fatal(err)
	}
	if c := cmdlineOf(t, out.Bytes()); !strings.HasPrefix(c, "flotilla.slot=B ") {
		t.Errorf(".cmdline %q", c)
	}
}

// TestForSlotSigned: a UKI signed by sbsign keeps its letter and its
// signature for slot A, and ForSlot refuses to patch it for slot B, which
// would void the signature.
func TestForSlotSigned(t *testing.T) {
	for _, c := range []string{"sbsign", "sbverify", "openssl"} {
		testenv.NeedCommand(t, c)
	}
	img := buildForSlotTest(t, "flotilla.slot=A console=ttyS0")
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "db.key"), filepath.Join(dir, "db.crt")
	if out, err := exec.Command("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
		"-subj", "/CN=flotilla test db/", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	unsigned, signedPath := filepath.Join(dir, "uki.efi"), filepath.Join(dir, "uki.signed.efi")
	if err := os.WriteFile(unsigned, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sbsign", "--key", key, "--cert", cert, "--output", signedPath, unsigned).CombinedOutput(); err != nil {
		t.Fatalf("sbsign: %v\n%s", err, out)
	}
	simg := mustRead(t, signedPath)
	var out bytes.Buffer
	if err := ForSlot(bytes.NewReader(img), &out, "B"); err != nil {
		t.Fatalf("unsigned image for B: %v", err)
	}
	out.Reset()
	if err := ForSlot(bytes.NewReader(simg), &out, "A"); err != nil || !bytes.Equal(out.Bytes(), simg) {
		t.Fatalf("signed image for A: %v (same bytes: %v)", err, bytes.Equal(out.Bytes(), simg))
	}
	a := filepath.Join(dir, "a.efi")
	os.WriteFile(a, out.Bytes(), 0o644)
	if o, err := exec.Command("sbverify", "--cert", cert, a).CombinedOutput(); err != nil {
		t.Fatalf("sbverify of the slot A image: %v\n%s", err, o)
	}
	out.Reset()
	err := ForSlot(bytes.NewReader(simg), &out, "B")
	if err == nil || !strings.Contains(err.Error(), "signed for Secure Boot") || out.Len() != 0 {
		t.Fatalf("signed image for B: %v (%d bytes written)", err, out.Len())
	}
}
