package fleetd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
)

// machineID reads DataDir/machine-id, creating it on first start. Each data
// directory is one machine, so several fleetds can share a host.
func machineID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "machine-id")
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) == 32 {
			if _, err := hex.DecodeString(id); err == nil {
				return id, nil
			}
		}
		return "", fmt.Errorf("fleetd: %s holds %q, not a 32-digit hex machine ID: fix or delete it", path, id)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("fleetd: read machine ID: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o444); err != nil {
		return "", fmt.Errorf("fleetd: machine ID: %w", err)
	}
	return id, nil
}
