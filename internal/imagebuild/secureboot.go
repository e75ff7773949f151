package imagebuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// SecureBoot is a user's Secure Boot signing key and certificate (PEM),
// as sbsign takes them: the key unencrypted, the certificate the one
// enrolled in the firmware's db.
type SecureBoot struct {
	Key, Cert string
}

// sign signs the EFI binary src into dst with sbsign (Debian's
// sbsigntool): an Authenticode signature the firmware checks against db.
func (sb *SecureBoot) sign(src, dst string) error {
	if _, err := exec.LookPath("sbsign"); err != nil {
		return fmt.Errorf("--secure-boot-key needs sbsign on PATH (apt-get install sbsigntool)")
	}
	for _, f := range []struct{ path, flag string }{{sb.Key, "--secure-boot-key"}, {sb.Cert, "--secure-boot-cert"}} {
		if f.path == "" {
			return fmt.Errorf("%s is required for a signed build", f.flag)
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	tmp := dst + ".signing"
	out, err := exec.Command("sbsign", "--key", sb.Key, "--cert", sb.Cert, "--output", tmp, src).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sbsign %s: %v: %s (is %s an unencrypted PEM key matching %s?)", filepath.Base(src), err, out, sb.Key, sb.Cert)
	}
	return os.Rename(tmp, dst)
}
