package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
)

// ErrNotFound is returned by Get and Remove for a reference the store does
// not hold.
var ErrNotFound = errors.New("image: not found")

// Store is a node's image store rooted at one directory. It is safe for
// concurrent use; mutations (Pull, Remove, GC) are serialised per store and,
// through a lock file, across processes sharing the directory.
type Store struct {
	dir string
	mu  sync.Mutex // serialises Pull, Remove and GC in this process
}

// Image is a stored image.
type Image struct {
	Ref    string   // as given, normalised (docker.io/library/busybox:latest)
	Digest string   // manifest digest, sha256:... (docker-archive: config digest)
	Layers []string // absolute dirs of unpacked layers, lowest first
	Config Config
	Size   int64 // bytes of file content in the layers

	DiffIDs      []string  // layer diffIDs, lowest first, parallel to Layers
	ConfigDigest string    // digest of the image config blob
	Pulled       time.Time // when Pull stored this ref
}

// Config is the part of the image config a runtime needs.
type Config struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
	ExposedPorts         []string // "80/tcp", sorted
}

// LowerDir returns the layers as an overlayfs lowerdir option value: the
// topmost layer first, joined with ':'.
func (img *Image) LowerDir() string {
	dirs := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		dirs[len(dirs)-1-i] = l
	}
	return strings.Join(dirs, ":")
}

// index is index.json: what the store holds.
type index struct {
	Version int                     `json:"version"`
	Images  map[string]*imageRecord `json:"images"` // normalised ref → image
	Layers  map[string]layerRecord  `json:"layers"` // diffID → layer
}

type imageRecord struct {
	Digest       string    `json:"digest"`
	ConfigDigest string    `json:"configDigest"`
	DiffIDs      []string  `json:"diffIDs"`
	Config       Config    `json:"config"`
	Pulled       time.Time `json:"pulled"`
}

type layerRecord struct {
	Size   int64  `json:"size"`             // file content bytes
	Digest string `json:"digest,omitempty"` // compressed blob digest, when known
}

const indexVersion = 1

// Open opens or creates a store under dir (see doc.go for the layout) and
// removes unpacks that a crashed process left in tmp/.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image: store dir %s: %w", dir, err)
	}
	s := &Store{dir: abs}
	for _, d := range []string{s.layersDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image: open store %s: %w", abs, diskErr(err))
		}
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.cleanTmp(); err != nil {
		return nil, err
	}
	if _, err := s.readIndex(); err != nil {
		return nil, err
	}
	return s, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) layersDir() string { return filepath.Join(s.dir, "layers", "sha256") }
func (s *Store) tmpDir() string    { return filepath.Join(s.dir, "tmp") }
func (s *Store) indexPath() string { return filepath.Join(s.dir, "index.json") }
func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.layersDir(), strings.TrimPrefix(diffID, "sha256:"))
}

// lock takes the in-process mutex and the cross-process lock file.
func (s *Store) lock() (unlock func(), err error) {
	s.mu.Lock()
	f, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("image: lock store %s: %w", s.dir, err)
	}
	return func() {
		f.Close() // releases the flock
		s.mu.Unlock()
	}, nil
}

func (s *Store) cleanTmp() error {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return fmt.Errorf("image: remove stale %s: %w", e.Name(), err)
		}
	}
	return nil
}

func (s *Store) readIndex() (*index, error) {
	idx := &index{Version: indexVersion, Images: map[string]*imageRecord{}, Layers: map[string]layerRecord{}}
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image: read index: %w", err)
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("image: index %s is corrupt (%v); move it aside and pull again", s.indexPath(), err)
	}
	if idx.Version != indexVersion {
		return nil, fmt.Errorf("image: index %s has version %d, this build reads %d", s.indexPath(), idx.Version, indexVersion)
	}
	if idx.Images == nil {
		idx.Images = map[string]*imageRecord{}
	}
	if idx.Layers == nil {
		idx.Layers = map[string]layerRecord{}
	}
	return idx, nil
}

// writeIndex replaces index.json atomically: temp file, fsync, rename,
// fsync of the directory.
func (s *Store) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("image: encode index: %w", err)
	}
	if err := writeFileAtomic(s.indexPath(), b); err != nil {
		return fmt.Errorf("image: write index: %w", diskErr(err))
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

func (s *Store) image(ref string, rec *imageRecord, idx *index) *Image {
	img := &Image{
		Ref:          ref,
		Digest:       rec.Digest,
		Config:       rec.Config,
		DiffIDs:      append([]string(nil), rec.DiffIDs...),
		ConfigDigest: rec.ConfigDigest,
		Pulled:       rec.Pulled,
	}
	for _, d := range rec.DiffIDs {
		img.Layers = append(img.Layers, s.layerDir(d))
		img.Size += idx.Layers[d].Size
	}
	return img
}

// Get returns a stored image by reference, normalised as Pull does
// ("busybox" finds docker.io/library/busybox:latest). It does not touch the
// network. ErrNotFound if the store does not hold it.
func (s *Store) Get(ref string) (*Image, error) {
	p, err := parseRef(ref, false)
	if err != nil {
		return nil, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec, ok := idx.Images[p.norm]
	if !ok {
		return nil, fmt.Errorf("%w: %s (pull it first)", ErrNotFound, p.norm)
	}
	return s.image(p.norm, rec, idx), nil
}

// List returns all stored images sorted by reference.
func (s *Store) List() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for ref, rec := range idx.Images {
		out = append(out, s.image(ref, rec, idx))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Remove forgets a reference. Its layers stay on disk until GC finds no
// image that uses them.
func (s *Store) Remove(ref string) error {
	p, err := parseRef(ref, false)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if _, ok := idx.Images[p.norm]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, p.norm)
	}
	delete(idx.Images, p.norm)
	return s.writeIndex(idx)
}

// GC removes every image for which inUse returns false (a nil inUse means
// none is in use), then every layer directory that no remaining image
// references, and leftovers in tmp/. It returns the file content bytes
// freed. The caller must report images whose layers are mounted as in use.
func (s *Store) GC(inUse func(img *Image) bool) (freedBytes int64, err error) {
	unlock, err := s.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	keep := map[string]bool{}
	for ref, rec := range idx.Images {
		if inUse != nil && inUse(s.image(ref, rec, idx)) {
			for _, d := range rec.DiffIDs {
				keep[strings.TrimPrefix(d, "sha256:")] = true
			}
			continue
		}
		delete(idx.Images, ref)
	}
	ents, err := os.ReadDir(s.layersDir())
	if err != nil {
		return 0, fmt.Errorf("image: gc: %w", err)
	}
	var doomed []string
	for _, e := range ents {
		if keep[e.Name()] {
			continue
		}
		diffID := "sha256:" + e.Name()
		rec, known := idx.Layers[diffID]
		if !known {
			rec.Size = duContent(filepath.Join(s.layersDir(), e.Name()))
		}
		freedBytes += rec.Size
		delete(idx.Layers, diffID)
		doomed = append(doomed, e.Name())
	}
	for d := range idx.Layers {
		if !keep[strings.TrimPrefix(d, "sha256:")] {
			delete(idx.Layers, d)
		}
	}
	// Forget first, then delete: a crash in between leaves only unreferenced
	// directories, which the next GC removes.
	if err := s.writeIndex(idx); err != nil {
		return 0, err
	}
	for _, name := range doomed {
		// Rename out of layers/ first so a half-deleted layer is never
		// visible under its digest.
		src := filepath.Join(s.layersDir(), name)
		dst := filepath.Join(s.tmpDir(), "gc-"+name)
		if err := os.Rename(src, dst); err != nil {
			return freedBytes, fmt.Errorf("image: gc layer sha256:%s: %w", name, err)
		}
		if err := os.RemoveAll(dst); err != nil {
			return freedBytes, fmt.Errorf("image: gc layer sha256:%s: %w", name, err)
		}
	}
	return freedBytes, s.cleanTmp()
}

// duContent sums regular file sizes under dir (for layers the index lost).
func duContent(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// diskErr makes a full disk explicit in an error.
func diskErr(err error) error {
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("no space left on device (ENOSPC): free space or run GC: %w", err)
	}
	return err
}
