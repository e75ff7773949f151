package netbridge

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// vethName is the host-side veth name for a unit's container: "flt" and 8 hex
// digits of a hash of unit and pid, 11 bytes (IFNAMSIZ allows 15).
func vethName(unit string, pid int) string {
	h := sha256.Sum256([]byte(unit + "\x00" + strconv.Itoa(pid)))
	return "flt" + hex.EncodeToString(h[:4])
}
