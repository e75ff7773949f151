package diskimage

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Kind says what a Tree entry is.
type Kind int

// The kinds of Tree entries.
const (
	KindDir Kind = iota
	KindFile
	KindSymlink
)

func (k Kind) String() string {
	switch k {
	case KindDir:
		return "directory"
	case KindFile:
		return "file"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Entry is one path in a Tree. Owner and group are always 0.
type Entry struct {
	Path   string      // slash-separated, relative, cleaned ("etc/hosts")
	Kind   Kind        // directory, file or symlink
	Mode   fs.FileMode // permissions (0755, ...), fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky
	Src    string      // KindFile: host file to copy, when Data is nil
	Data   []byte      // KindFile: literal contents (used when Src is "")
	Target string      // KindSymlink: the link's target, stored as given
}

// Tree is an in-memory description of a filesystem tree. The zero value is an
// empty tree holding only its root directory. Parents of added paths are
// created as 0755 directories unless added explicitly.
type Tree struct {
	entries map[string]*Entry
}

// DefaultDirMode is the mode of directories a Tree creates implicitly.
const DefaultDirMode fs.FileMode = 0o755

// AddFile adds a regular file at dst whose contents are read from the host
// file src when the image is written.
func (t *Tree) AddFile(dst, src string, mode fs.FileMode) error {
	if src == "" {
		return fmt.Errorf("diskimage: file %q: empty source path", dst)
	}
	return t.add(&Entry{Path: dst, Kind: KindFile, Mode: mode, Src: src})
}

// AddBytes adds a regular file at dst with contents b (b is not copied).
func (t *Tree) AddBytes(dst string, b []byte, mode fs.FileMode) error {
	if b == nil {
		b = []byte{}
	}
	return t.add(&Entry{Path: dst, Kind: KindFile, Mode: mode, Data: b})
}

// AddSymlink adds a symbolic link at dst pointing at target.
func (t *Tree) AddSymlink(dst, target string) error {
	if target == "" {
		return fmt.Errorf("diskimage: symlink %q: empty target", dst)
	}
	return t.add(&Entry{Path: dst, Kind: KindSymlink, Mode: 0o777, Target: target})
}

// AddDir adds a directory at dst with mode; adding a directory that exists
// (explicitly or implicitly) sets its mode.
func (t *Tree) AddDir(dst string, mode fs.FileMode) error {
	return t.add(&Entry{Path: dst, Kind: KindDir, Mode: mode})
}

// Entries returns every entry except the root, sorted by path, parents before
// children.
func (t *Tree) Entries() []*Entry {
	out := make([]*Entry, 0, len(t.entries))
	for _, e := range t.entries {
		if e.Path != "." {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Root returns the root directory's entry (mode 0755 unless set with AddDir(".", m)).
func (t *Tree) Root() *Entry {
	t.init()
	return t.entries["."]
}

// Lookup returns the entry at p, or nil.
func (t *Tree) Lookup(p string) *Entry {
	t.init()
	c, err := cleanPath(p)
	if err != nil {
		return nil
	}
	return t.entries[c]
}

func (t *Tree) init() {
	if t.entries == nil {
		t.entries = map[string]*Entry{".": {Path: ".", Kind: KindDir, Mode: DefaultDirMode}}
	}
}

func cleanPath(p string) (string, error) {
	c := path.Clean("/" + strings.TrimSpace(p))
	if c == "/" {
		return ".", nil
	}
	c = strings.TrimPrefix(c, "/")
	if strings.ContainsRune(c, 0) {
		return "", fmt.Errorf("diskimage: path %q contains a NUL byte", p)
	}
	return c, nil
}

func (t *Tree) add(e *Entry) error {
	t.init()
	c, err := cleanPath(e.Path)
	if err != nil {
		return err
	}
	if e.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 || e.Mode&0o7000 != 0 {
		return fmt.Errorf("diskimage: %s %q: mode %v has type bits or octal 07000 bits: give permissions plus fs.ModeSetuid, fs.ModeSetgid or fs.ModeSticky", e.Kind, e.Path, e.Mode)
	}
	e.Path = c
	if c == "." && e.Kind != KindDir {
		return fmt.Errorf("diskimage: cannot add a %s at the root of the tree", e.Kind)
	}
	// Parents: create implicit directories, refuse to put anything below a non-directory.
	for dir := path.Dir(c); c != "." && dir != "."; dir = path.Dir(dir) {
		p, ok := t.entries[dir]
		if !ok {
			t.entries[dir] = &Entry{Path: dir, Kind: KindDir, Mode: DefaultDirMode}
			continue
		}
		if p.Kind != KindDir {
			return fmt.Errorf("diskimage: cannot add %q: parent %q is a %s", c, dir, p.Kind)
		}
	}
	if old, ok := t.entries[c]; ok {
		if old.Kind == KindDir && e.Kind == KindDir {
			old.Mode = e.Mode
			return nil
		}
		return fmt.Errorf("diskimage: %q added twice (a %s, then a %s): remove one of them", c, old.Kind, e.Kind)
	}
	t.entries[c] = e
	return nil
}
