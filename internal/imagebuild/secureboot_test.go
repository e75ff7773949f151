package imagebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestSecureBootSign signs systemd-boot with a throwaway key: sbverify
// accepts the result with the certificate; bad inputs are errors naming
// the flag.
func TestSecureBootSign(t *testing.T) {
	for _, c := range []string{"sbsign", "sbverify", "openssl"} {
		testenv.NeedCommand(t, c)
	}
	if err := mustExist(systemdBoot, "systemd-boot-efi"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "db.key"), filepath.Join(dir, "db.crt")
	if out, err := exec.Command("openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
		"-subj", "/CN=flotilla test db/", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "boot.efi")
	if err := (&SecureBoot{Key: key, Cert: cert}).sign(systemdBoot, out); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command("sbverify", "--cert", cert, out).CombinedOutput(); err != nil {
		t.Fatalf("sbverify: %v\n%s", err, o)
	}
	for _, tc := range []struct {
		sb   SecureBoot
		want string
	}{
		{SecureBoot{Key: key}, "--secure-boot-cert is required"},
		{SecureBoot{Key: filepath.Join(dir, "nope"), Cert: cert}, "--secure-boot-key: stat"},
		{SecureBoot{Key: cert, Cert: cert}, "unencrypted PEM key"},
	} {
		err := tc.sb.sign(systemdBoot, filepath.Join(dir, "bad.efi"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sign with %+v: %v, want %q", tc.sb, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.efi.signing")); err == nil {
		t.Error("a failed signing left its temporary file")
	}
}
