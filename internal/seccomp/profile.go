package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// UnconfinedName is SeccompProfile='s value (Podman's word) for no filter.
const UnconfinedName = "unconfined"

// Profile is a seccomp profile: Docker's default, one loaded from a JSON
// file, or Unconfined. Its compiled filters are cached per capability set.
type Profile struct {
	path       string // the JSON file; "" for Docker's default
	data       []byte // its contents; nil for Docker's default
	unconfined bool

	mu    sync.Mutex
	cache map[string]*Filter
}

var defaultProfile = &Profile{}

// Default is Docker's default profile (moby/profiles' DefaultProfile).
func Default() *Profile { return defaultProfile }

// Unconfined is no profile: the container runs without a filter.
var Unconfined = &Profile{unconfined: true}

// String names the profile for messages.
func (p *Profile) String() string {
	switch {
	case p.unconfined:
		return UnconfinedName
	case p.path == "":
		return "Docker's default profile"
	}
	return p.path
}

// IsUnconfined reports whether p is Unconfined.
func (p *Profile) IsUnconfined() bool { return p.unconfined }

// Load reads a profile in Docker's JSON format from path (absolute) and
// checks it: its JSON, actions, operators, errno values, flags and syscall
// names, and that it compiles for this machine with Docker's default
// capabilities. Errors name the file.
func Load(path string) (*Profile, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("seccomp profile %q: not an absolute path (give /path/to/profile.json, or %s)", path, UnconfinedName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for data read from path.
func Parse(path string, data []byte) (*Profile, error) {
	p := &Profile{path: path, data: data}
	if _, err := p.decode(); err != nil {
		return nil, err
	}
	if _, err := p.Filter(dockerDefaultCaps); err != nil {
		return nil, err
	}
	return p, nil
}

// dockerDefaultCaps is the set Load checks a profile with.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// decode parses p's JSON strictly (unknown fields are errors: a misspelt
// key would otherwise be silently ignored) into moby's profile type.
func (p *Profile) decode() (*mobyseccomp.Seccomp, error) {
	if p.data == nil {
		return mobyseccomp.DefaultProfile(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(p.data))
	dec.DisallowUnknownFields()
	var s mobyseccomp.Seccomp
	if err := dec.Decode(&s); err != nil {
		return nil, p.errorf("%v", jsonError(p.data, err))
	}
	if s.DefaultAction == "" {
		return nil, p.errorf("no defaultAction (Docker's default profile has \"SCMP_ACT_ERRNO\")")
	}
	return &s, nil
}

// jsonError adds the line and column to a syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON ends early (is the file truncated?)")
	default:
		return err
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:min(int(off), len(data))], '\n') - 1
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

func (p *Profile) errorf(format string, args ...any) error {
	return fmt.Errorf("seccomp profile %s: %s", p, fmt.Sprintf(format, args...))
}

// expand applies the profile's conditions (capabilities, architecture,
// kernel version) for a container with caps, as Docker does.
func (p *Profile) expand(caps []string) (*specs.LinuxSeccomp, error) {
	if _, err := p.decode(); err != nil {
		return nil, err
	}
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	var ls *specs.LinuxSeccomp
	var err error
	if p.data == nil {
		ls, err = mobyseccomp.GetDefaultProfile(rs)
	} else {
		ls, err = mobyseccomp.LoadProfile(string(p.data), rs)
	}
	if err != nil {
		return nil, p.errorf("%v", err)
	}
	if ls == nil {
		return nil, p.errorf("no defaultAction and no syscalls: for no filter, use %s", UnconfinedName)
	}
	return ls, nil
}

// normCaps returns caps as sorted, unique CAP_ names.
func normCaps(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		out = append(out, "CAP_"+strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Filter returns the compiled filter for a container with the capability
// set caps (names with or without CAP_), nil for Unconfined. Filters are
// cached: the second start of a container costs a map lookup.
func (p *Profile) Filter(caps []string) (*Filter, error) {
	if p.unconfined {
		return nil, nil
	}
	caps = normCaps(caps)
	key := strings.Join(caps, ",")
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.cache[key]; ok {
		return f, nil
	}
	ls, err := p.expand(caps)
	if err != nil {
		return nil, err
	}
	f, err := compile(ls, p.data == nil)
	if err != nil {
		return nil, p.errorf("%v", err)
	}
	if p.cache == nil {
		p.cache = map[string]*Filter{}
	}
	p.cache[key] = f
	return f, nil
}
