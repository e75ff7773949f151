package native

import (
	"bufio"
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

// readEnvFile reads KEY=value lines into env ('#' and ';' comment lines,
// values optionally in single or double quotes).
func readEnvFile(p optPath, env map[string]string) error {
	f, err := os.Open(p.path)
	if err != nil {
		if p.optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("environment file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		if !ok || !validName(k) {
			return fmt.Errorf("environment file %s:%d: not NAME=value", p.path, n)
		}
		env[k] = unquoteEnvValue(strings.TrimSpace(v))
	}
	return sc.Err()
}

func unquoteEnvValue(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		r := strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`")
		return r.Replace(v)
	}
	return v
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
