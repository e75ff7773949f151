package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Kernel is one installed Debian kernel.
type Kernel struct {
	Version    string // e.g. "6.1.0-56-amd64"
	Image      string // the bzImage, e.g. /boot/vmlinuz-6.1.0-56-amd64
	ModulesDir string // e.g. /lib/modules/6.1.0-56-amd64
}

// Module is one loadable module file.
type Module struct {
	Name string // canonical name, with underscores: "virtio_rng"
	Path string // relative to Kernel.ModulesDir: "kernel/drivers/char/hw_random/virtio-rng.ko"
}

// ErrNoKernel is returned by Find when root holds no usable kernel.
var ErrNoKernel = errors.New("kernel: no Debian kernel found")

// Find returns the newest kernel under root ("/" normally) that has both
// boot/vmlinuz-<kver> and lib/modules/<kver>/modules.dep.
func Find(root string) (*Kernel, error) {
	images, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return nil, err
	}
	var found []*Kernel
	for _, img := range images {
		kver := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		mdir := filepath.Join(root, "lib", "modules", kver)
		if _, err := os.Stat(filepath.Join(mdir, "modules.dep")); err != nil {
			continue
		}
		found = append(found, &Kernel{Version: kver, Image: img, ModulesDir: mdir})
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w under %s (need boot/vmlinuz-<kver> and lib/modules/<kver>/modules.dep): install Debian's linux-image-amd64 (apt-get install linux-image-amd64)", ErrNoKernel, root)
	}
	slices.SortFunc(found, func(a, b *Kernel) int { return compareVersions(a.Version, b.Version) })
	return found[len(found)-1], nil
}

// compareVersions orders kernel versions like "6.1.0-9-amd64" <
// "6.1.0-56-amd64" by comparing runs of digits as numbers.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, rb := leadingRun(a), leadingRun(b)
		na, errA := strconv.Atoi(ra)
		nb, errB := strconv.Atoi(rb)
		switch {
		case errA == nil && errB == nil && na != nb:
			return na - nb
		case (errA != nil || errB != nil) && ra != rb:
			return strings.Compare(ra, rb)
		}
		a, b = a[len(ra):], b[len(rb):]
	}
	return len(a) - len(b)
}

// leadingRun is s's first run of digits or of non-digits.
func leadingRun(s string) string {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	d := digit(s[0])
	i := 1
	for i < len(s) && digit(s[i]) == d {
		i++
	}
	return s[:i]
}

// ModuleName is the canonical name of a module file or name: the base name
// without .ko (and .xz/.zst/.gz), with '-' turned into '_' as modprobe does.
func ModuleName(s string) string {
	s = path.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// index is what Closure needs from ModulesDir.
type index struct {
	path    map[string]string   // name -> relative path
	deps    map[string][]string // name -> dependency names, as modules.dep lists them
	builtin map[string]bool
	softPre map[string][]string // name -> softdep "pre:" names (modules or aliases)
	alias   map[string][]string // exact alias -> module names, in file order
}

func (k *Kernel) readIndex() (*index, error) {
	ix := &index{
		path:    map[string]string{},
		deps:    map[string][]string{},
		builtin: map[string]bool{},
		softPre: map[string][]string{},
		alias:   map[string][]string{},
	}
	err := eachLine(filepath.Join(k.ModulesDir, "modules.dep"), true, func(line string) error {
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("line %q has no ':'", line)
		}
		name := ModuleName(mod)
		ix.path[name] = mod
		for _, d := range strings.Fields(deps) {
			ix.deps[name] = append(ix.deps[name], ModuleName(d))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w (reinstall the kernel package or run depmod %s)", err, k.Version)
	}
	if err := eachLine(filepath.Join(k.ModulesDir, "modules.builtin"), false, func(line string) error {
		ix.builtin[ModuleName(line)] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(k.ModulesDir, "modules.softdep"), false, func(line string) error {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			return nil
		}
		name, pre := ModuleName(f[1]), false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					ix.softPre[name] = append(ix.softPre[name], w)
				}
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(k.ModulesDir, "modules.alias"), false, func(line string) error {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" && !strings.ContainsAny(f[1], "*?[") {
			ix.alias[f[1]] = append(ix.alias[f[1]], ModuleName(f[2]))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return ix, nil
}

// eachLine calls fn on each non-empty, non-comment line of file. A missing
// file is an error only when required.
func eachLine(file string, required bool, fn func(string) error) error {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s:%d: %w", file, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return nil
}

// Closure resolves module names ('-' and '_' alike) into every module they
// need, in load order: each module after its dependencies (modules.dep) and
// after its softdep "pre:" modules (modules.softdep, names resolved through
// modules.alias as modprobe does; unresolvable softdeps are ignored as
// modprobe ignores them). Each module appears once. A built-in name is
// skipped; a name that is neither a module nor built in is an error.
func (k *Kernel) Closure(names ...string) ([]Module, error) {
	ix, err := k.readIndex()
	if err != nil {
		return nil, err
	}
	var (
		out     []Module
		state   = map[string]int{} // 1 visiting, 2 done
		unknown []string
	)
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("kernel %s: dependency cycle %s -> %s", k.Version, strings.Join(chain, " -> "), name)
		}
		state[name] = 1
		chain = append(chain, name)
		for _, s := range ix.softPre[name] {
			for _, m := range ix.resolveSoft(s) {
				if state[m] == 1 {
					continue // a soft cycle: modprobe breaks it the same way
				}
				if err := visit(m, chain); err != nil {
					return err
				}
			}
		}
		// modules.dep lists the whole transitive set; walking it from the
		// end loads the deepest dependencies first, as modprobe does.
		deps := ix.deps[name]
		for i := len(deps) - 1; i >= 0; i-- {
			if _, ok := ix.path[deps[i]]; !ok {
				return fmt.Errorf("kernel %s: %s needs %s, which modules.dep does not list: run depmod %s", k.Version, name, deps[i], k.Version)
			}
			if err := visit(deps[i], chain); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, Module{Name: name, Path: ix.path[name]})
		return nil
	}
	for _, n := range names {
		name := ModuleName(n)
		if _, ok := ix.path[name]; !ok {
			if !ix.builtin[name] {
				unknown = append(unknown, n)
			}
			continue
		}
		if err := visit(name, nil); err != nil {
			return nil, err
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("kernel %s: no module or built-in named %s in %s (check the name with modinfo -k %s NAME, or drop it from the list)",
			k.Version, strings.Join(unknown, ", "), k.ModulesDir, k.Version)
	}
	return out, nil
}

// resolveSoft turns a softdep name into loadable module names: a module
// name itself, or the modules an exact alias names. Built-ins and unknown
// names give nothing.
func (ix *index) resolveSoft(s string) []string {
	if name := ModuleName(s); ix.path[name] != "" {
		return []string{name}
	}
	var out []string
	for _, m := range ix.alias[s] {
		if ix.path[m] != "" {
			out = append(out, m)
		}
	}
	return out
}
