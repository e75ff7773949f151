package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The flotilla.* keys of the kernel command line.
const (
	// KeySlot names the slot whose squashfs is the root, "A" or "B"; the
	// slot's UKI carries it (uki.ForSlot patches the letter).
	KeySlot = "flotilla.slot"
	// KeyDebug=1 starts a debug shell on the console (also on the fatal
	// path instead of a reboot).
	KeyDebug = "flotilla.debug"
	// KeyConfig is a URL (http or https) of the first-boot config.
	KeyConfig = "flotilla.config"

	// The slot's dm-verity parameters (internal/verity): the root hash
	// (sha256, hex), the salt (hex), the number of 4 KiB data blocks and
	// the byte offset of the hash area (its superblock) in the slot.
	// image-build writes all four into the signed UKI; stage 1 opens the
	// slot through dm-verity when they are there.
	KeyVerityRoot       = "flotilla.verity.root"
	KeyVeritySalt       = "flotilla.verity.salt"
	KeyVerityBlocks     = "flotilla.verity.blocks"
	KeyVerityHashOffset = "flotilla.verity.hashoffset"
)

// Verity is the slot's dm-verity parameters; the zero value means none.
type Verity struct {
	RootHash   string // 64 lower-case hex digits
	Salt       string // hex, at most 256 bytes; "" for none
	DataBlocks uint64 // > 0
	HashOffset uint64 // bytes, a multiple of 4096, at or past the data
}

// Enabled says whether the command line asks for a verified root.
func (v Verity) Enabled() bool { return v != Verity{} }

func (v Verity) check() error {
	bad := func(key, val, want string) error {
		return fmt.Errorf("kernel command line: %s=%q: want %s", key, val, want)
	}
	if len(v.RootHash) != 64 || !isHex(v.RootHash) {
		return bad(KeyVerityRoot, v.RootHash, "64 lower-case hex digits (a sha256)")
	}
	if len(v.Salt)%2 != 0 || len(v.Salt) > 512 || !isHex(v.Salt) {
		return bad(KeyVeritySalt, v.Salt, "an even number of lower-case hex digits, at most 512")
	}
	if v.DataBlocks == 0 {
		return fmt.Errorf("kernel command line: %s is missing or 0 while %s is set", KeyVerityBlocks, KeyVerityRoot)
	}
	if v.HashOffset%4096 != 0 || v.HashOffset/4096 < v.DataBlocks {
		return bad(KeyVerityHashOffset, strconv.FormatUint(v.HashOffset, 10),
			fmt.Sprintf("a multiple of 4096 at or past the %d data blocks", v.DataBlocks))
	}
	return nil
}

func isHex(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Cmdline is a kernel command line: the flotilla.* keys as fields, every
// other parameter kept, in order, in Params.
type Cmdline struct {
	Slot      string // KeySlot: "A" or "B"; "" when absent
	Debug     bool   // KeyDebug=1 (or a bare flotilla.debug)
	ConfigURL string // KeyConfig; "" when absent
	Verity    Verity // KeyVerity*; zero when absent
	// Params are the other parameters as the kernel sees them, quotes
	// removed ("console=ttyS0,115200", "dyndbg=file x +p").
	Params []string
}

// ParseCmdline reads a kernel command line (/proc/cmdline's text). It
// splits on white space outside double quotes and drops the quotes, as the
// kernel does (param="a b"). A key given twice takes its last value, as
// with the kernel's own parameters. A slot is upper-cased and must be A or
// B; flotilla.debug takes 1/0 and their usual synonyms. Whether the slot is
// required is the caller's business. On error every parameter has still
// been read: the fields hold what parsed.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	var errs []error
	for _, f := range splitCmdline(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case KeySlot:
			c.Slot = strings.ToUpper(v)
			if c.Slot != "A" && c.Slot != "B" {
				errs = append(errs, fmt.Errorf("kernel command line: %s=%q: want A or B", KeySlot, c.Slot))
			}
		case KeyDebug:
			switch strings.ToLower(v) {
			case "", "1", "y", "yes", "true", "on":
				c.Debug = true
			case "0", "n", "no", "false", "off":
				c.Debug = false
			default:
				errs = append(errs, fmt.Errorf("kernel command line: %s=%q: want 1 or 0", KeyDebug, v))
			}
		case KeyConfig:
			c.ConfigURL = v
		case KeyVerityRoot:
			c.Verity.RootHash = v
		case KeyVeritySalt:
			c.Verity.Salt = v
		case KeyVerityBlocks, KeyVerityHashOffset:
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || (n == 0 && k == KeyVerityBlocks) {
				errs = append(errs, fmt.Errorf("kernel command line: %s=%q: want a positive number", k, v))
				continue
			}
			if k == KeyVerityBlocks {
				c.Verity.DataBlocks = n
			} else {
				c.Verity.HashOffset = n
			}
		default:
			c.Params = append(c.Params, f)
		}
	}
	if c.Verity.Enabled() && len(errs) == 0 {
		if err := c.Verity.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// String is the command line: flotilla.slot first, then Params, then the
// verity keys, flotilla.config and flotilla.debug=1 when set. A parameter with white
// space (or an empty one) is quoted, so ParseCmdline(c.String()) gives c
// back. A value holding a double quote cannot be written (the kernel has
// no escape for it); ParseCmdline never returns one.
func (c Cmdline) String() string {
	var out []string
	if c.Slot != "" {
		out = append(out, KeySlot+"="+c.Slot)
	}
	for _, p := range c.Params {
		out = append(out, quoteParam(p))
	}
	if v := c.Verity; v.Enabled() {
		out = append(out, KeyVerityRoot+"="+v.RootHash)
		if v.Salt != "" {
			out = append(out, KeyVeritySalt+"="+v.Salt)
		}
		out = append(out, KeyVerityBlocks+"="+strconv.FormatUint(v.DataBlocks, 10),
			KeyVerityHashOffset+"="+strconv.FormatUint(v.HashOffset, 10))
	}
	if c.ConfigURL != "" {
		out = append(out, quoteParam(KeyConfig+"="+c.ConfigURL))
	}
	if c.Debug {
		out = append(out, KeyDebug+"=1")
	}
	return strings.Join(out, " ")
}

// Console is the device of the last console= parameter ("ttyS0" of
// "console=ttyS0,115200n8"), the one the kernel makes /dev/console; "" when
// there is none.
func (c Cmdline) Console() string {
	dev := ""
	for _, p := range c.Params {
		if v, ok := strings.CutPrefix(p, "console="); ok {
			dev, _, _ = strings.Cut(v, ",")
		}
	}
	return dev
}

// quoteParam quotes p's value (key="a b"), or all of p when its key has
// white space or p is empty.
func quoteParam(p string) string {
	if p != "" && !strings.ContainsAny(p, " \t\n") {
		return p
	}
	if k, v, ok := strings.Cut(p, "="); ok && k != "" && !strings.ContainsAny(k, " \t\n") {
		return k + `="` + v + `"`
	}
	return `"` + p + `"`
}

// splitCmdline splits on spaces outside double quotes, dropping the quotes,
// as the kernel does (param="a b").
func splitCmdline(s string) []string {
	var out []string
	var b strings.Builder
	inQ, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ, inWord = !inQ, true
		case !inQ && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				out = append(out, b.String())
			}
			b.Reset()
			inWord = false
		default:
			b.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, b.String())
	}
	return out
}
