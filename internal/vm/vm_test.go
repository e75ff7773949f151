package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// The command line carries what each option asks for, and nothing it
// doesn't: the tests read serial logs and the cluster script reads ports
// off these exact flags.
func TestArgs(t *testing.T) {
	t.Setenv("FLOTILLA_QEMU_ACCEL", "tcg")
	saved := kvmOnce
	kvmOnce = func() bool { return probeKVM() }
	t.Cleanup(func() { kvmOnce = saved })
	dir := t.TempDir()
	args, err := qemuArgs(Options{Name: "n1", Dir: dir, Disk: "/d.img", Kernel: "/k", Initrd: "/i", Append: "flotilla.slot=A",
		Forwards: map[int]int{17700: 7700}, UserMAC: "52:54:00:10:00:01",
		Taps: []*Tap{{MAC: "52:54:00:11:00:01"}}, FwCfg: map[string]string{"opt/flotilla/config.json": "/c.json"}})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-accel tcg -cpu max", "-m 512", "-smp 1", "-no-reboot", "-kernel /k", "-initrd /i", "-append flotilla.slot=A",
		"file=/d.img,format=raw", "hostfwd=tcp:127.0.0.1:17700-:7700", "mac=52:54:00:10:00:01",
		"tap,id=tap0,fd=3", "netdev=tap0,mac=52:54:00:11:00:01", "-fw_cfg name=opt/flotilla/config.json,file=/c.json",
		"virtio-rng-pci",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "pflash") {
		t.Errorf("-kernel boot also loads OVMF:\n%s", line)
	}

	args, err = qemuArgs(Options{Name: "n2", Dir: dir, Disk: "/d.img", Reboots: true, NoUserNet: true, CPUs: 2, MemoryMB: 1024})
	if _, statErr := os.Stat(OVMFCode); statErr != nil {
		if err == nil || !strings.Contains(err.Error(), "ovmf") {
			t.Fatalf("without OVMF: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(args, " ")
	for _, want := range []string{"if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCode, "n2-OVMF_VARS.fd", "-nic none", "-smp 2", "-m 1024"} {
		if !strings.Contains(line, want) {
			t.Errorf("UEFI command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "-no-reboot") {
		t.Errorf("Reboots: true still passes -no-reboot:\n%s", line)
	}
	if _, err := os.Stat(dir + "/n2-OVMF_VARS.fd"); err != nil {
		t.Errorf("no private copy of the OVMF variables: %v", err)
	}
}

// TestSerialLogStamps: the serial log file stamps every line once, however
// the output is split into writes; the in-memory log stays as the guest wrote it.
func TestSerialLogStamps(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "serial.log"))
	if err != nil {
		t.Fatal(err)
	}
	v := &VM{start: time.Now(), wake: make(chan struct{}, 1)}
	w := &serialWriter{vm: v, file: f}
	for _, chunk := range []string{"ab", "c\nd", "\n", "e\nf\n"} {
		w.Write([]byte(chunk))
	}
	f.Close()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	stamped := regexp.MustCompile(`^(\[ +\d+\.\d{3}\] abc\n)(\[ +\d+\.\d{3}\] d\n)(\[ +\d+\.\d{3}\] e\n)(\[ +\d+\.\d{3}\] f\n)$`)
	if !stamped.Match(b) {
		t.Errorf("serial log file:\n%s", b)
	}
	if got := v.Log(); got != "abc\nd\ne\nf\n" {
		t.Errorf("in-memory log %q", got)
	}
}

// TestRunQEMUFails: Run reports a QEMU that exits with an error, naming the
// serial log, and Logf got the command line before the start.
func TestRunQEMUFails(t *testing.T) {
	testenv.NeedCommand(t, "qemu-system-x86_64")
	var logged []string
	dir := t.TempDir()
	v, err := Run(context.Background(), Options{Name: "bad", Dir: dir, Kernel: "/nonexistent/vmlinuz", NoUserNet: true,
		Logf: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "QEMU") || !strings.Contains(err.Error(), filepath.Join(dir, "bad.serial.log")) {
		t.Fatalf("Run with a missing kernel = %v, want a QEMU error naming the serial log", err)
	}
	if !v.Exited() {
		t.Error("Run returned with QEMU still running")
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "-kernel /nonexistent/vmlinuz") {
		t.Errorf("Logf got %q, want the one command line", logged)
	}
	b, _ := os.ReadFile(v.LogPath)
	if !strings.HasPrefix(string(b), "# "+logged[0]) {
		t.Errorf("serial log does not start with the command line:\n%s", b)
	}
}

// TestRunTimeout: a guest that never powers off (OVMF with nothing to boot
// waits in its shell) is killed after the timeout and reported.
func TestRunTimeout(t *testing.T) {
	testenv.NeedCommand(t, "qemu-system-x86_64")
	if _, err := os.Stat(OVMFCode); err != nil {
		t.Skipf("needs %s (Debian's ovmf)", OVMFCode)
	}
	start := time.Now()
	v, err := Run(context.Background(), Options{Name: "idle", Dir: t.TempDir(), NoUserNet: true}, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "still running after 2s") {
		t.Fatalf("Run of an idle guest = %v, want a timeout", err)
	}
	if took := time.Since(start); took < 2*time.Second || took > time.Minute {
		t.Errorf("Run returned after %s, want just after the 2s timeout", took)
	}
	if !v.Exited() {
		t.Error("QEMU still runs after the timeout")
	}
}

// TestRunPowersOff boots the host's kernel with no root: it panics, and
// with panic=-1 and -no-reboot QEMU exits cleanly, the console kept.
func TestRunPowersOff(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	k, err := kernel.Find("/")
	if err != nil {
		t.Skipf("needs Debian's linux-image-amd64: %v", err)
	}
	v, err := Run(context.Background(), Options{Name: "panic", Dir: LogDir(t), Kernel: k.Image, NoUserNet: true,
		Append: "console=ttyS0 panic=-1", Logf: t.Logf}, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if log := v.Log(); !strings.Contains(log, "Linux version") || !strings.Contains(log, "Kernel panic") {
		t.Errorf("console lacks the kernel's banner or its panic:\n%s", log)
	}
}

func TestLogDir(t *testing.T) {
	t.Setenv("FLOTILLA_VM_LOGS", "/var/tmp/vmlogs")
	if got := LogDir(t); got != "/var/tmp/vmlogs/TestLogDir" {
		t.Errorf("LogDir with FLOTILLA_VM_LOGS = %q", got)
	}
	t.Run("sub/test", func(t *testing.T) {
		if got := LogDir(t); got != "/var/tmp/vmlogs/TestLogDir_sub_test" {
			t.Errorf("LogDir of a subtest = %q", got)
		}
	})
	t.Setenv("FLOTILLA_VM_LOGS", "")
	if got := LogDir(t); !strings.HasPrefix(got, os.TempDir()) {
		t.Errorf("LogDir without FLOTILLA_VM_LOGS = %q, want a temp dir", got)
	}
}

func TestArgsSecureBoot(t *testing.T) {
	if _, err := os.Stat(OVMFSecureCode); err != nil {
		t.Skip("needs Debian's ovmf installed")
	}
	dir := t.TempDir()
	args, err := qemuArgs(Options{Name: "sb", Dir: dir, Disk: "/d.img", NoUserNet: true, SecureBootVars: OVMFSnakeoilVars})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-machine q35,smm=on", "driver=cfi.pflash01,property=secure,value=on",
		"unit=0,readonly=on,file=" + OVMFSecureCode, "unit=1,file=" + filepath.Join(dir, "sb-OVMF_VARS.fd")} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "sb-OVMF_VARS.fd"))
	want, _ := os.ReadFile(OVMFSnakeoilVars)
	if !bytes.Equal(got, want) {
		t.Error("the VM's variable store is not a copy of the Secure Boot one")
	}
}
