package initd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
)

// MachineID returns var/lib/flotilla/machine-id (32 hex digits), creating
// it on first boot, and makes var/lib/fleetd/machine-id the same: fleetd
// reads its machine ID from its data directory. A fleetd machine-id that
// exists and differs is a machine that was already a cluster member under
// that ID, so init's file takes fleetd's ID instead of changing it.
func MachineID(varDir string) (string, error) {
	own := filepath.Join(varDir, node.MachineIDFile)
	fl := filepath.Join(varDir, node.FleetdDataDir, "machine-id")
	id, err := readID(own)
	if err != nil {
		return "", err
	}
	fid, err := readID(fl)
	if err != nil {
		return "", err
	}
	switch {
	case fid != "":
		id = fid
	case id == "":
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		id = hex.EncodeToString(raw[:])
	}
	if err := writeID(own, id); err != nil {
		return "", err
	}
	if err := writeID(fl, id); err != nil {
		return "", err
	}
	return id, nil
}

// readID returns "" for a missing or empty file and an error for a
// malformed one.
func readID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", nil // a write torn by a power cut: as good as missing
	}
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return "", fmt.Errorf("%s holds %q, not a 32-digit hex machine ID: fix or delete it (from the debug shell)", path, id)
	}
	return id, nil
}

func writeID(path, id string) error {
	if cur, _ := readID(path); cur == id {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// Durable: a machine ID written but not flushed before a power cut
	// came back empty and stopped the next boot.
	return atomicfile.WriteFile(path, []byte(id+"\n"), 0o444)
}

// Hostname is the config's hostname or "flotilla-" + the machine ID's first
// 8 digits.
func Hostname(cfg *bootconfig.Config, machineID string) string {
	if cfg != nil && cfg.Hostname != "" {
		return cfg.Hostname
	}
	return bootconfig.DefaultHostname(machineID)
}

// SetHostname sets the kernel's hostname.
func SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %q: %w", name, err)
	}
	return nil
}

// WriteTLS writes the config's bundle to dir/{ca,node,node-key}.pem, 0600,
// and returns the three paths; nil without TLS.
func WriteTLS(dir string, t *bootconfig.TLS) (*TLSFiles, error) {
	if t == nil {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f := &TLSFiles{CA: filepath.Join(dir, node.TLSCAFile), Cert: filepath.Join(dir, node.TLSCertFile), Key: filepath.Join(dir, node.TLSKeyFile)}
	for path, pem := range map[string]string{f.CA: t.CA, f.Cert: t.Cert, f.Key: t.Key} {
		if err := os.WriteFile(path, []byte(pem), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// TLSFiles are where WriteTLS put the bundle.
type TLSFiles struct{ CA, Cert, Key string }

// SeedEntropy feeds the seed file into the kernel's pool (crediting it:
// the file was written from a pool already initialised, on this machine)
// and writes a fresh seed for the next boot. A missing seed is normal on
// first boot. The fresh seed is read with getrandom, which on a kernel
// without entropy would block: with random.trust_cpu=on and virtio-rng it
// does not.
func SeedEntropy(seedPath string) (credited bool, err error) {
	old, err := os.ReadFile(seedPath)
	if err == nil && len(old) > 0 {
		if err := addEntropy(old); err != nil {
			// Without CAP_SYS_ADMIN or on an odd kernel: mixing in
			// without credit still helps.
			if f, werr := os.OpenFile("/dev/urandom", os.O_WRONLY, 0); werr == nil {
				f.Write(old)
				f.Close()
			}
		} else {
			credited = true
		}
	}
	fresh := make([]byte, 512)
	if _, err := rand.Read(fresh); err != nil {
		return credited, err
	}
	if err := os.MkdirAll(filepath.Dir(seedPath), 0o700); err != nil {
		return credited, err
	}
	return credited, atomicfile.WriteFile(seedPath, fresh, 0o600)
}
