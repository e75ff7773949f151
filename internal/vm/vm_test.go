package vm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The command line carries what each option asks for, and nothing it
// doesn't: the tests read serial logs and the cluster script reads ports
// off these exact flags.
func TestArgs(t *testing.T) {
	t.Setenv("FLOTILLA_QEMU_ACCEL", "tcg")
	kvmOnce = func() bool { return probeKVM() }
	dir := t.TempDir()
	args, err := Args(Options{Name: "n1", Dir: dir, Disk: "/d.img", Kernel: "/k", Initrd: "/i", Append: "flotilla.slot=A",
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

	args, err = Args(Options{Name: "n2", Dir: dir, Disk: "/d.img", Reboots: true, NoUserNet: true, CPUs: 2, MemoryMB: 1024})
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
