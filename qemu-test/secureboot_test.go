package qemutest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vm"
)

// snakeoil is Debian's test key for OVMF, enrolled as PK, KEK and db in
// vm.OVMFSnakeoilVars: the stand-in for a user's key.
const (
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

// TestSecureBoot builds an image signed with --secure-boot-key and boots it
// on OVMF's Secure Boot firmware with that key enrolled: it reaches stage 1
// and opens its root through dm-verity, with the kernel's EFI stub reporting Secure
// Boot on. The unsigned image, and the signed one with one byte of its UKI
// altered on the ESP, are refused by the firmware and never reach stage 1.
func TestSecureBoot(t *testing.T) {
	needVM(t)
	for _, c := range []string{"sbsign", "openssl", "mcopy"} {
		testenv.NeedCommand(t, c)
	}
	for _, f := range []string{snakeoilKey, snakeoilCert, vm.OVMFSecureCode, vm.OVMFSnakeoilVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("needs Debian's ovmf with its snakeoil Secure Boot key: %v", err)
		}
	}
	unsigned, _ := image(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "db.key")
	if out, err := exec.Command("openssl", "pkey", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("decrypt the snakeoil key: %v\n%s", err, out)
	}
	start := time.Now()
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Out: filepath.Join(builtDir, "secureboot"), Version: "1.0.0", SourceDateEpoch: 1700000000,
		SecureBoot: &imagebuild.SecureBoot{Key: key, Cert: snakeoilCert},
		Logf:       func(f string, a ...any) { t.Logf("image-build (signed): "+f, a...) },
	})
	if err != nil {
		t.Fatalf("image-build --secure-boot-key: %v", err)
	}
	t.Logf("signed image-build took %s", time.Since(start).Round(time.Second))

	boot := func(name, disk string) *vm.VM {
		t.Helper()
		copyDisk := filepath.Join(t.TempDir(), name+".img")
		if out, err := exec.Command("cp", "--sparse=always", disk, copyDisk).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		v, err := vm.Start(context.Background(), vm.Options{Name: name, Dir: vm.LogDir(t), Disk: copyDisk,
			NoUserNet: true, SecureBootVars: vm.OVMFSnakeoilVars, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Kill)
		return v
	}
	ctx := context.Background()

	v := boot("signed", res.Disk)
	if _, err := v.WaitFor(ctx, "flotilla: ROOT-A opened through dm-verity", bootTimeout, "Access Denied", "flotilla: FATAL"); err != nil {
		t.Fatalf("the signed image did not boot: %v", err)
	}
	if !strings.Contains(v.Log(), "UEFI Secure Boot is enabled") { // the EFI stub says so; loglevel=4 hides the kernel's own line
		t.Errorf("the EFI stub did not report Secure Boot on:\n%s", tail(v.Log(), 3000))
	}
	v.Kill()

	// Unsigned: the firmware refuses systemd-boot itself.
	v = boot("unsigned", unsigned.Disk)
	if _, err := v.WaitFor(ctx, "Access Denied", 3*time.Minute, "flotilla: stage1"); err != nil {
		t.Fatalf("the unsigned image was not refused: %v", err)
	}
	v.Kill()

	// Altered: the signed image with one byte of the UKI's kernel flipped
	// on the ESP. systemd-boot (signed) loads, the UKI does not.
	altered := filepath.Join(t.TempDir(), "altered.img")
	if out, err := exec.Command("cp", "--sparse=always", res.Disk, altered).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	esp := altered + "@@1M"
	name := "::/" + imagebuild.UKIName("1.0.0")
	efi := filepath.Join(t.TempDir(), "uki.efi")
	if out, err := exec.Command("mcopy", "-n", "-i", esp, name, efi).CombinedOutput(); err != nil {
		t.Fatalf("mcopy out: %v\n%s", err, out)
	}
	b, err := os.ReadFile(efi)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(efi, b, 0o644)
	if out, err := exec.Command("mcopy", "-o", "-i", esp, efi, name).CombinedOutput(); err != nil {
		t.Fatalf("mcopy in: %v\n%s", err, out)
	}
	v = boot("altered", altered)
	if d, err := v.WaitFor(ctx, "rror loading", 4*time.Minute, "flotilla: stage1"); err == nil {
		t.Logf("altered UKI refused %s after QEMU started: %s", d.Round(time.Second), lineWith(v.Log(), "rror loading"))
	} else if strings.Contains(v.Log(), "flotilla: stage1") {
		t.Fatalf("the altered UKI booted:\n%s", tail(v.Log(), 3000))
	} else {
		t.Logf("altered UKI: no stage 1 in 4 min, and no systemd-boot error line seen; console tail:\n%s", tail(v.Log(), 1500))
	}
}

func lineWith(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
