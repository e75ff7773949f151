package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// ErrDigestMismatch is wrapped by errors for content whose digest is not
// the one its manifest or config promised.
var ErrDigestMismatch = errors.New("image: digest mismatch")

// PullOptions configures Pull.
type PullOptions struct {
	// DockerConfig is a docker config.json for registry credentials; ""
	// means ~/.docker/config.json if present, else anonymous.
	DockerConfig string
	// Insecure allows plain HTTP (e.g. 127.0.0.1:5000).
	Insecure bool
	// Progress, if set, receives one line per step.
	Progress func(msg string)

	// MaxLayerSize bounds a layer's expanded size (file content, sparse
	// entries at full size, and its tar stream); 0 means
	// DefaultMaxLayerSize, negative no bound. It bounds an oci-archive's
	// expanded layout too.
	MaxLayerSize int64
	// MaxRatio bounds expanded bytes per compressed byte once a layer
	// passes 256 MiB expanded; 0 means DefaultMaxRatio, negative none.
	MaxRatio int64
	// MinFree is the space a pull leaves free on the store's filesystem,
	// checked (statfs) before each file is written; 0 means 1% of the
	// filesystem up to 256 MiB, negative no check.
	MinFree int64
}

// budget returns the bounds for one stream; read counts compressed bytes.
func (o PullOptions) budget(read func() int64) *budget {
	b := &budget{maxSize: o.MaxLayerSize, maxRatio: o.MaxRatio, minFree: o.MinFree, read: read, fd: -1}
	if b.maxSize == 0 {
		b.maxSize = DefaultMaxLayerSize
	}
	if b.maxRatio == 0 {
		b.maxRatio = DefaultMaxRatio
	}
	return b
}

func (o PullOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Pull stores the image ref names and returns it. Layers already in the
// store are neither fetched nor unpacked again. Nothing partial is left
// behind on error.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	p, err := parseRef(ref, o.Insecure)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	o.progress("resolving %s", p.norm)
	src, cleanup, err := s.resolve(ctx, p, o)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	cfg, err := src.img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %s: read config: %w", p.norm, err)
	}
	if cfg.OS != "" && (cfg.OS != wantOS || cfg.Architecture != wantArch) {
		return nil, fmt.Errorf("image: %s is %s/%s; Flotilla nodes run %s/%s only", p.norm, cfg.OS, cfg.Architecture, wantOS, wantArch)
	}
	cd, err := src.img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image: %s: config digest: %w", p.norm, err)
	}
	plan, err := planLayers(src, cfg)
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p.norm, err)
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	rec := &imageRecord{Digest: src.digest, ConfigDigest: cd.String(), Config: convertConfig(cfg), Pulled: time.Now().UTC()}
	for i, lf := range plan {
		lf.pos = fmt.Sprintf("%d/%d", i+1, len(plan))
		rec.DiffIDs = append(rec.DiffIDs, lf.diffID)
		if fi, err := os.Stat(s.layerDir(lf.diffID)); err == nil && fi.IsDir() {
			o.progress("layer %s %s already present", lf.pos, lf.diffID)
			if _, ok := idx.Layers[lf.diffID]; !ok {
				idx.Layers[lf.diffID] = layerRecord{Size: duContent(s.layerDir(lf.diffID)), Digest: lf.digest}
			}
			continue
		}
		o.progress("layer %s %s unpacking", lf.pos, lf.diffID)
		size, err := s.fetchLayer(ctx, lf, o)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", p.norm, err)
		}
		idx.Layers[lf.diffID] = layerRecord{Size: size, Digest: lf.digest}
	}
	idx.Images[p.norm] = rec
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	o.progress("stored %s %s", p.norm, src.digest)
	return s.image(p.norm, rec, idx), nil
}

func convertConfig(cf *v1.ConfigFile) Config {
	c := cf.Config
	out := Config{Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User}
	for port := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, port)
	}
	sort.Strings(out.ExposedPorts)
	return out
}

// layerFetch is one layer to read: its identity and how to open it.
type layerFetch struct {
	pos    string // "2/5", for messages
	diffID string
	digest string // compressed digest to verify, "" = none (docker-archive)
	size   int64  // compressed size from the manifest, 0 = unknown
	open   func() (io.ReadCloser, error)
}

func (lf *layerFetch) String() string {
	if lf.digest != "" {
		return fmt.Sprintf("layer %s (blob %s, diffID %s)", lf.pos, lf.digest, lf.diffID)
	}
	return fmt.Sprintf("layer %s (diffID %s)", lf.pos, lf.diffID)
}

func planLayers(src *source, cfg *v1.ConfigFile) ([]*layerFetch, error) {
	diffIDs := cfg.RootFS.DiffIDs
	var plan []*layerFetch
	if !src.manifest {
		for _, d := range diffIDs {
			l, err := src.img.LayerByDiffID(d)
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", d, err)
			}
			plan = append(plan, &layerFetch{diffID: d.String(), open: l.Uncompressed})
		}
		return plan, nil
	}
	m, err := src.img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if len(m.Layers) != len(diffIDs) {
		return nil, fmt.Errorf("manifest lists %d layers but the config %d diffIDs; the image is malformed", len(m.Layers), len(diffIDs))
	}
	for i, desc := range m.Layers {
		if !desc.MediaType.IsDistributable() {
			return nil, fmt.Errorf("layer %s is a foreign layer (%s); not supported", desc.Digest, desc.MediaType)
		}
		l, err := src.img.LayerByDigest(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		plan = append(plan, &layerFetch{diffID: diffIDs[i].String(), digest: desc.Digest.String(), size: desc.Size, open: l.Compressed})
	}
	return plan, nil
}

// digestReader hashes and counts what passes through it.
type digestReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
	n   int64
	// total is n for other goroutines: the compressed stream is read by
	// the read-ahead goroutine while the extractor checks the ratio.
	total atomic.Int64
}

func newDigestReader(ctx context.Context, r io.Reader) *digestReader {
	return &digestReader{ctx: ctx, r: r, h: sha256.New()}
}

func (d *digestReader) Read(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	d.total.Add(int64(n))
	return n, err
}

func (d *digestReader) digest() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress sniffs the stream: gzip, zstd or a plain tar.
func decompress(br *bufio.Reader) (io.ReadCloser, error) {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		return zr, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// fetchLayer reads, verifies and unpacks one layer into a temp dir inside
// the store and renames it into place only when both digests match.
func (s *Store) fetchLayer(ctx context.Context, lf *layerFetch, o PullOptions) (size int64, err error) {
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-")
	if err != nil {
		return 0, fmt.Errorf("%v: %w", lf, diskErr(err))
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("%v: %w", lf, err)
	}
	rc, err := lf.open()
	if err != nil {
		return 0, fmt.Errorf("%v: open: %w", lf, err)
	}
	defer rc.Close()
	cr := newDigestReader(ctx, rc)
	br := bufio.NewReaderSize(cr, 1<<20)
	size, err = s.unpackStream(ctx, br, tmp, lf, o, o.budget(cr.total.Load))
	if err != nil {
		if lf.digest != "" && !errors.Is(err, unix.ENOSPC) && ctx.Err() == nil {
			// A corrupt blob often breaks decompression before its end; read
			// the rest so that the error names the real cause.
			io.Copy(io.Discard, br)
			if got := cr.digest(); got != lf.digest {
				return 0, fmt.Errorf("%v: %w: blob content is %s, the manifest says %s; the source is corrupt or tampered with, nothing was stored (%v)",
					lf, ErrDigestMismatch, got, lf.digest, err)
			}
		}
		return 0, fmt.Errorf("%v: %w", lf, diskErr(err))
	}
	if _, err = io.Copy(io.Discard, br); err != nil {
		if got := cr.digest(); lf.digest != "" && got != lf.digest {
			return 0, fmt.Errorf("%v: %w: blob content is %s, the manifest says %s; nothing was stored (%v)", lf, ErrDigestMismatch, got, lf.digest, err)
		}
		return 0, fmt.Errorf("%v: read: %w", lf, err)
	}
	if got := cr.digest(); lf.digest != "" && got != lf.digest {
		return 0, fmt.Errorf("%v: %w: blob content is %s, the manifest says %s; nothing was stored", lf, ErrDigestMismatch, got, lf.digest)
	}
	if err = syncTree(tmp); err != nil {
		return 0, fmt.Errorf("%v: sync: %w", lf, diskErr(err))
	}
	if err = os.Rename(tmp, s.layerDir(lf.diffID)); err != nil {
		return 0, fmt.Errorf("%v: %w", lf, diskErr(err))
	}
	if err = syncDir(s.layersDir()); err != nil {
		return 0, fmt.Errorf("%v: %w", lf, diskErr(err))
	}
	return size, nil
}

// unpackStream decompresses and unpacks br into dir and checks the diffID.
func (s *Store) unpackStream(ctx context.Context, br *bufio.Reader, dir string, lf *layerFetch, o PullOptions, b *budget) (int64, error) {
	dr, err := decompress(br)
	if err != nil {
		return 0, fmt.Errorf("decompress: %w", err)
	}
	defer dr.Close()
	ur := newDigestReader(ctx, dr)
	ra := newReadAhead(ur)
	defer ra.Close() // before dr.Close: the goroutine reads dr
	cra := &countReader{r: ra}
	size, err := unpackTar(cra, dir, unpackOptions{Overlay: true, Budget: b, Note: func(msg string) { o.progress("layer %s: %s", lf.pos, msg) }})
	if err != nil {
		return 0, err
	}
	// The diffID covers the whole tar, including padding past the end
	// marker; that tail counts against the bound too.
	tail := &io.LimitedReader{R: cra, N: 1 << 62}
	if b.maxSize > 0 {
		tail.N = max(b.maxSize-cra.n, 0) + 1
	}
	if _, err := io.Copy(io.Discard, tail); err != nil {
		return 0, fmt.Errorf("decompress: %w", err)
	}
	if tail.N == 0 {
		return 0, b.stream(b.maxSize + 1)
	}
	ra.Close()
	if got := ur.digest(); got != lf.diffID {
		return 0, fmt.Errorf("%w: uncompressed content is %s, the image config says diffID %s; nothing was stored", ErrDigestMismatch, got, lf.diffID)
	}
	return size, nil
}

// syncTree flushes the filesystem holding dir, so that a layer renamed into
// place is complete after a crash.
func syncTree(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}
