package native

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// defaultPath is the PATH units get, and where bare program names are looked
// up, as systemd does.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// execEnv is what every process of one start cycle runs with.
type execEnv struct {
	env  map[string]string
	dir  string
	cred *syscall.Credential
}

// prepareExec resolves User=/Group=, reads EnvironmentFile= and builds the
// environment: PATH, the user's USER/LOGNAME/HOME/SHELL, Environment=, then
// EnvironmentFile= (which overrides, as in systemd).
func prepareExec(sp *spec) (*execEnv, error) {
	x := &execEnv{env: map[string]string{"PATH": defaultPath}}
	home := "/"
	if sp.user != "" || sp.group != "" {
		var err error
		if home, err = x.resolveCreds(sp.user, sp.group); err != nil {
			return nil, err
		}
	}
	for _, kv := range sp.env {
		k, v, _ := strings.Cut(kv, "=")
		x.env[k] = v
	}
	for _, f := range sp.envFiles {
		if err := readEnvFile(f, x.env); err != nil {
			return nil, err
		}
	}
	return x, x.resolveDir(sp.workDir, home)
}

// resolveCreds fills x.cred and the user's variables; it returns the home.
func (x *execEnv) resolveCreds(name, group string) (string, error) {
	x.cred = &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	home := "/"
	if name != "" {
		u, err := lookupUser(name)
		if err != nil {
			return "", err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		x.cred.Uid, x.cred.Gid = uint32(uid), uint32(gid)
		x.cred.Groups = supplementaryGroups(u)
		home = u.HomeDir
		x.env["USER"], x.env["LOGNAME"], x.env["HOME"] = u.Username, u.Username, u.HomeDir
		x.env["SHELL"] = "/bin/sh"
	}
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return "", err
		}
		gid, _ := strconv.Atoi(g.Gid)
		x.cred.Gid = uint32(gid)
	}
	return home, nil
}

func lookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
		return &user.User{Uid: name, Gid: name, Username: name, HomeDir: "/"}, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	return u, nil
}

func lookupGroup(name string) (*user.Group, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return &user.Group{Gid: name, Name: name}, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", name, err)
	}
	return g, nil
}

func supplementaryGroups(u *user.User) []uint32 {
	ids, _ := u.GroupIds()
	var out []uint32
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

func (x *execEnv) resolveDir(p optPath, home string) error {
	x.dir = p.path
	if x.dir == "~" {
		x.dir = home
	}
	if x.dir == "" {
		x.dir = "/"
		return nil
	}
	if st, err := os.Stat(x.dir); err != nil || !st.IsDir() {
		if p.optional {
			x.dir = "/"
			return nil
		}
		return fmt.Errorf("working directory %s: not a directory or missing", x.dir)
	}
	return nil
}

// readEnvFile reads an EnvironmentFile= into env (later files and lines
// override earlier ones); see parseEnvFile for the grammar.
func readEnvFile(p optPath, env map[string]string) error {
	data, err := os.ReadFile(p.path)
	if err != nil {
		if p.optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("environment file: %w", err)
	}
	for _, kv := range parseEnvFile(string(data)) {
		env[kv[0]] = kv[1]
	}
	return nil
}

// parseEnvFile reads KEY=value assignments with the grammar of systemd's
// parse_env_file_internal (src/basic/env-file.c): lines starting with '#'
// or ';' are comments; whitespace around the key and before the value is
// dropped, and after an unquoted value; a value may mix unquoted text,
// '...' (literal) and "..." (where \" \\ \` \$ are escapes and other
// backslashes stay) pieces; outside quotes a backslash takes the next
// character as it is; a backslash before a newline continues the line.
// A line without '=' is ignored, and so is a key that is not a variable
// name (systemd drops it from the environment); "export " before a key is
// dropped, which systemd does not do.
func parseEnvFile(s string) [][2]string {
	var out [][2]string
	var key, val strings.Builder
	const (
		preKey = iota
		inKey
		preValue
		inValue
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	state := preKey
	trailing := 0 // unquoted trailing whitespace in val, trimmed at the end
	push := func() {
		k := strings.TrimSpace(key.String())
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		v := val.String()
		v = v[:len(v)-trailing]
		if validName(k) {
			out = append(out, [2]string{k, v})
		}
		key.Reset()
		val.Reset()
		trailing = 0
	}
	isNewline := func(c byte) bool { return c == '\n' || c == '\r' }
	isBlank := func(c byte) bool { return c == ' ' || c == '\t' }
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case preKey:
			switch {
			case c == '#' || c == ';':
				state = comment
			case !isBlank(c) && !isNewline(c):
				key.WriteByte(c)
				state = inKey
			}
		case inKey:
			switch {
			case isNewline(c):
				key.Reset() // no '=': ignored
				state = preKey
			case c == '=':
				state = preValue
			default:
				key.WriteByte(c)
			}
		case preValue, inValue:
			switch {
			case isNewline(c):
				push()
				state = preKey
			case c == '\'' && state == preValue:
				state = singleQuote
			case c == '"' && state == preValue:
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case isBlank(c) && state == preValue:
			default:
				if isBlank(c) {
					trailing++
				} else {
					trailing = 0
				}
				val.WriteByte(c)
				state = inValue
			}
		case valueEscape:
			if !isNewline(c) {
				val.WriteByte(c)
				trailing = 0
			}
			state = inValue
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				val.WriteByte(c)
			}
		case doubleQuote:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleQuoteEscape
			default:
				val.WriteByte(c)
			}
		case doubleQuoteEscape:
			switch {
			case strings.IndexByte("\"\\`$", c) >= 0:
				val.WriteByte(c)
			case c == '\n': // a continuation line
			default:
				val.WriteByte('\\')
				val.WriteByte(c)
			}
			state = doubleQuote
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNewline(c) {
				state = preKey
			}
		case commentEscape: // since systemd v254 a backslash does not continue a comment
			state = comment
			if isNewline(c) {
				state = preKey
			}
		}
	}
	if state != preKey && state != inKey && state != comment && state != commentEscape {
		push()
	}
	return out
}

// list returns the environment as sorted K=V strings plus extra.
func (x *execEnv) list(extra ...string) []string {
	out := make([]string, 0, len(x.env)+len(extra))
	for k, v := range x.env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return append(out, extra...)
}

// lookPath resolves a bare program name in PATH.
func lookPath(prog, pathVar string) (string, error) {
	if strings.HasPrefix(prog, "/") {
		return prog, nil
	}
	for _, dir := range filepath.SplitList(pathVar) {
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: not found in PATH", prog)
}
