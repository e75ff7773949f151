package initd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
)

func TestMachineIDPersists(t *testing.T) {
	v := t.TempDir()
	id, err := MachineID(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 {
		t.Fatalf("machine ID %q is not 32 hex digits", id)
	}
	again, err := MachineID(v)
	if err != nil || again != id {
		t.Fatalf("second boot: MachineID = %q, %v; want %q", again, err, id)
	}
	fl, _ := os.ReadFile(filepath.Join(v, node.FleetdDataDir, "machine-id"))
	if strings.TrimSpace(string(fl)) != id {
		t.Errorf("fleetd's machine-id = %q, want %q", fl, id)
	}
	if got := Hostname(&bootconfig.Config{}, id); got != "flotilla-"+id[:8] {
		t.Errorf("Hostname = %q", got)
	}
	if got := Hostname(&bootconfig.Config{Hostname: "n1"}, id); got != "n1" {
		t.Errorf("Hostname = %q", got)
	}
}

// TestMachineIDKeepsFleetds: a STATE where fleetd already has an identity
// (its member is known to the cluster under it) keeps that identity.
func TestMachineIDKeepsFleetds(t *testing.T) {
	v := t.TempDir()
	const fid = "0123456789abcdef0123456789abcdef"
	os.MkdirAll(filepath.Join(v, node.FleetdDataDir), 0o755)
	os.WriteFile(filepath.Join(v, node.FleetdDataDir, "machine-id"), []byte(fid+"\n"), 0o444)
	id, err := MachineID(v)
	if err != nil || id != fid {
		t.Fatalf("MachineID = %q, %v; want fleetd's %q", id, err, fid)
	}
	own, _ := os.ReadFile(filepath.Join(v, node.MachineIDFile))
	if strings.TrimSpace(string(own)) != fid {
		t.Errorf("%s = %q", node.MachineIDFile, own)
	}
}

func TestMachineIDRejectsGarbage(t *testing.T) {
	v := t.TempDir()
	os.MkdirAll(filepath.Join(v, "lib/flotilla"), 0o755)
	os.WriteFile(filepath.Join(v, node.MachineIDFile), []byte("nope\n"), 0o444)
	if _, err := MachineID(v); err == nil || !strings.Contains(err.Error(), "machine-id") {
		t.Errorf("MachineID error = %v, want one naming the file", err)
	}
}

func TestWriteTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	f, err := WriteTLS(dir, &bootconfig.TLS{CA: "ca", Cert: "cert", Key: "key"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{f.CA: "ca", f.Cert: "cert", f.Key: "key"} {
		st, err := os.Stat(path)
		b, _ := os.ReadFile(path)
		if err != nil || st.Mode().Perm() != 0o600 || string(b) != want {
			t.Errorf("%s: mode %v content %q err %v", path, st.Mode(), b, err)
		}
	}
	if f, err := WriteTLS(dir, nil); f != nil || err != nil {
		t.Errorf("WriteTLS(nil) = %v, %v", f, err)
	}
}

func TestSeedEntropy(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "lib/flotilla/random-seed")
	if credited, err := SeedEntropy(seed); err != nil || credited {
		t.Fatalf("first boot: credited=%v err=%v", credited, err)
	}
	first, _ := os.ReadFile(seed)
	if len(first) != 512 {
		t.Fatalf("seed is %d bytes", len(first))
	}
	credited, err := SeedEntropy(seed)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && !credited {
		t.Error("as root, the seed was not credited (RNDADDENTROPY)")
	}
	second, _ := os.ReadFile(seed)
	if string(first) == string(second) {
		t.Error("the seed was not refreshed")
	}
}

// An empty machine-id file is what a power cut leaves of an unflushed
// write: the boot goes on with fleetd's ID (or a new one), not a FATAL.
func TestMachineIDAfterTornWrite(t *testing.T) {
	v := t.TempDir()
	const fid = "0123456789abcdef0123456789abcdef"
	os.MkdirAll(filepath.Join(v, filepath.Dir(node.MachineIDFile)), 0o755)
	os.MkdirAll(filepath.Join(v, node.FleetdDataDir), 0o755)
	os.WriteFile(filepath.Join(v, node.MachineIDFile), nil, 0o444)
	os.WriteFile(filepath.Join(v, node.FleetdDataDir, "machine-id"), []byte(fid+"\n"), 0o444)
	id, err := MachineID(v)
	if err != nil || id != fid {
		t.Fatalf("MachineID = %q, %v; want fleetd's %s", id, err, fid)
	}
	b, _ := os.ReadFile(filepath.Join(v, node.MachineIDFile))
	if string(b) != fid+"\n" {
		t.Fatalf("machine-id rewritten as %q", b)
	}
}
