package payload

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Sentinel errors of Check and Download, for errors.Is.
var (
	ErrUpToDate      = errors.New("payload: up to date")
	ErrOlder         = errors.New("payload: older version refused")
	ErrFailedVersion = errors.New("payload: version failed before")
	ErrWrongArch     = errors.New("payload: wrong architecture")
	ErrWrongChannel  = errors.New("payload: wrong channel")
	ErrHashMismatch  = errors.New("payload: hash mismatch")
	ErrTruncated     = errors.New("payload: truncated download")
	ErrTooLarge      = errors.New("payload: larger than allowed")
	ErrExpired       = errors.New("payload: channel pointer expired")
	ErrReplayed      = errors.New("payload: channel pointer replayed")
	ErrTooSlow       = errors.New("payload: download too slow")
)

// Download rate floor defaults: a transfer is cut when fewer than
// DefaultMinBytes arrive in DefaultSlowWindow (about 2 KiB/s). A node under
// QEMU TCG over user networking gets about 1 MB/s; a server that drips a
// byte every few seconds is cut within a window and the download resumes.
const (
	DefaultMinBytes   = 64 << 10
	DefaultSlowWindow = 30 * time.Second
	// DefaultRetries is how many times a download that was cut for being
	// too slow (or ended early) is resumed at once before Download fails.
	DefaultRetries = 3
	// docTimeout bounds fetching one pointer, manifest or signature
	// (at most MaxDocSize each) from the request to its last byte.
	docTimeout = time.Minute
)

// Fetcher checks a server directory for a newer version and downloads it
// into Dir/<version>/ with resume. It writes nothing before the channel
// pointer's and the manifest's signatures are verified.
type Fetcher struct {
	URL       string            // the server directory's base URL
	PublicKey ed25519.PublicKey // the only key trusted
	Channel   string            // the channel followed
	Dir       string            // download directory, on STATE
	// MaxSize bounds an artifact of the manifest (0: no bound but the
	// manifest's own sizes, which a download never exceeds).
	MaxSize int64
	Client  *http.Client // nil: a client with a 30 s header timeout
	// Progress, if set, hears bytes done and total during Download.
	Progress func(done, total int64)
	// MinBytes and SlowWindow are the download rate floor: a transfer
	// that gets fewer than MinBytes in any SlowWindow is cut (ErrTooSlow)
	// and resumed, at most Retries times in one Download. 0 means
	// DefaultMinBytes, DefaultSlowWindow, DefaultRetries; a negative
	// MinBytes turns the floor off.
	MinBytes   int64
	SlowWindow time.Duration
	Retries    int
	// Now is the clock pointer expiry is checked against (nil: time.Now).
	Now func() time.Time
}

// Files are the verified files of a downloaded payload.
type Files struct {
	Dir  string // Dir/<version>
	UKI  string
	Root string
}

// CheckOptions say what the node runs and refuses.
type CheckOptions struct {
	Current string   // the running version
	Failed  []string // versions that failed to boot here: never retried
	Force   bool     // allow a downgrade
	// LastSerial is the highest pointer serial this node has accepted: a
	// lower one is a replay (ErrReplayed).
	LastSerial uint64
	// Seen, if set, is called with a verified, unexpired pointer's serial
	// before its version is looked at, for the caller to keep durably
	// as the next LastSerial. An error from it fails Check.
	Seen func(serial uint64) error
}

// Check fetches and verifies the channel pointer, then the manifest it
// names, refuses what the node must not install, and keeps the verified
// manifest and its signature in Dir/<version>/. A pointer naming the
// running version gives ErrUpToDate.
func (f *Fetcher) Check(ctx context.Context, o CheckOptions) (*Manifest, error) {
	pname := f.Channel + ".json"
	pdata, psig, err := f.getSigned(ctx, pname)
	if err != nil {
		return nil, err
	}
	if err := Verify(f.PublicKey, pdata, psig, f.url(pname)); err != nil {
		return nil, err
	}
	p, err := ParsePointer(pdata, f.url(pname))
	if err != nil {
		return nil, err
	}
	if p.Channel != f.Channel {
		return nil, fmt.Errorf("%w: %s is for channel %q, this node follows %q (update.channel)", ErrWrongChannel, f.url(pname), p.Channel, f.Channel)
	}
	if err := f.fresh(p, o, f.url(pname)); err != nil {
		return nil, err
	}
	if o.Seen != nil {
		if err := o.Seen(p.Serial); err != nil {
			return nil, fmt.Errorf("record pointer serial %d: %w", p.Serial, err)
		}
	}
	if err := refuseVersion(p.Version, o); err != nil {
		return nil, err
	}
	mname := p.Version + "/manifest.json"
	mdata, msig, err := f.getSigned(ctx, mname)
	if err != nil {
		return nil, err
	}
	if err := Verify(f.PublicKey, mdata, msig, f.url(mname)); err != nil {
		return nil, err
	}
	m, err := ParseManifest(mdata, f.url(mname))
	if err != nil {
		return nil, err
	}
	if err := f.accept(m, p.Version, f.url(mname)); err != nil {
		return nil, err
	}
	vdir := filepath.Join(f.Dir, m.Version)
	if err := os.MkdirAll(vdir, 0o700); err != nil {
		return nil, fmt.Errorf("download directory: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(vdir, "manifest.json.sig"), msig, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(vdir, "manifest.json"), mdata, 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

// fresh refuses an expired pointer and one older than the last seen.
func (f *Fetcher) fresh(p *Pointer, o CheckOptions, from string) error {
	now := time.Now()
	if f.Now != nil {
		now = f.Now()
	}
	if now.After(p.Expires) {
		return fmt.Errorf("%w: pointer for channel %s expired at %s (%s, serial %d; this node's clock says %s): "+
			"the publisher must publish again (`updater publish` re-signs it), or a server is replaying an old one",
			ErrExpired, p.Channel, p.Expires.UTC().Format(time.RFC3339), from, p.Serial, now.UTC().Format(time.RFC3339))
	}
	if p.Serial < o.LastSerial {
		return fmt.Errorf("%w: pointer for channel %s has serial %d, older than the last seen serial %d (%s): a server is replaying an old pointer",
			ErrReplayed, p.Channel, p.Serial, o.LastSerial, from)
	}
	return nil
}

func refuseVersion(v string, o CheckOptions) error {
	if slices.Contains(o.Failed, v) {
		return fmt.Errorf("%w: %s failed to boot on this node and is not retried: publish a newer version", ErrFailedVersion, v)
	}
	c := Compare(v, o.Current)
	switch {
	case c == 0:
		return fmt.Errorf("%w: %s is running", ErrUpToDate, v)
	case c < 0 && !o.Force:
		return fmt.Errorf("%w: the channel offers %s, older than the running %s: a downgrade needs force", ErrOlder, v, o.Current)
	}
	return nil
}

// accept checks a verified manifest against the pointer and this node.
func (f *Fetcher) accept(m *Manifest, version, from string) error {
	switch {
	case m.Version != version:
		return fmt.Errorf("%s says version %s but the channel pointer says %s: republish", from, m.Version, version)
	case m.Channel != f.Channel:
		return fmt.Errorf("%w: %s is for channel %q, this node follows %q (update.channel)", ErrWrongChannel, from, m.Channel, f.Channel)
	case m.Arch != Arch:
		return fmt.Errorf("%w: %s is for %q, this node is %s", ErrWrongArch, from, m.Arch, Arch)
	}
	for _, a := range []Artifact{m.UKI, m.Root} {
		if f.MaxSize > 0 && a.Size > f.MaxSize {
			return fmt.Errorf("%w: %s names %s of %d bytes, more than the %d this node takes", ErrTooLarge, from, a.Path, a.Size, f.MaxSize)
		}
	}
	return nil
}

// Local re-reads a manifest that Check kept in Dir/<version>/ and verifies
// its signature again (after a restart, nothing on disk is trusted as is).
func (f *Fetcher) Local(version string) (*Manifest, error) {
	vdir := filepath.Join(f.Dir, version)
	mpath := filepath.Join(vdir, "manifest.json")
	mdata, err := os.ReadFile(mpath)
	if err != nil {
		return nil, err
	}
	msig, err := os.ReadFile(mpath + ".sig")
	if err != nil {
		return nil, err
	}
	if err := Verify(f.PublicKey, mdata, msig, mpath); err != nil {
		return nil, err
	}
	m, err := ParseManifest(mdata, mpath)
	if err != nil {
		return nil, err
	}
	if err := f.accept(m, version, mpath); err != nil {
		return nil, err
	}
	return m, nil
}

// Download fetches m's UKI and root into Dir/<version>/, resuming partial
// files (NAME.part) with Range requests, and verifies each file's size
// and sha256. A file already complete is hashed again, not fetched.
// m must come from Check or Local.
func (f *Fetcher) Download(ctx context.Context, m *Manifest) (*Files, error) {
	total := m.UKI.Size + m.Root.Size
	var done int64
	for _, a := range []Artifact{m.UKI, m.Root} {
		base := done
		progress := func(n int64) {
			if f.Progress != nil {
				f.Progress(base+n, total)
			}
		}
		if _, err := f.fetch(ctx, m, a, progress); err != nil {
			return nil, err
		}
		done += a.Size
	}
	vdir := filepath.Join(f.Dir, m.Version)
	return &Files{Dir: vdir, UKI: filepath.Join(vdir, m.UKI.Path), Root: filepath.Join(vdir, m.Root.Path)}, nil
}

// Fetch is Download for one of m's artifacts (m.UKI or m.Root): its kept
// file, hashed again, or fetched anew if it changed on disk. It returns
// the file's path. A step that needs one file checks only that one: under
// QEMU without KVM hashing runs at a few MB/s.
func (f *Fetcher) Fetch(ctx context.Context, m *Manifest, a Artifact) (string, error) {
	return f.fetch(ctx, m, a, func(int64) {})
}

func (f *Fetcher) fetch(ctx context.Context, m *Manifest, a Artifact, progress func(int64)) (string, error) {
	vdir := filepath.Join(f.Dir, m.Version)
	if err := os.MkdirAll(vdir, 0o700); err != nil {
		return "", fmt.Errorf("download directory: %w", err)
	}
	path := filepath.Join(vdir, a.Path)
	return path, f.download(ctx, m.Version+"/"+a.Path, path, a, progress)
}

func (f *Fetcher) download(ctx context.Context, name, path string, a Artifact, progress func(int64)) error {
	if sum, n, err := HashFile(path); err == nil {
		if n == a.Size && sum == a.SHA256 {
			progress(n)
			return nil
		}
		os.Remove(path) // changed on disk since: fetch again
	}
	part := path + ".part"
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	defer file.Close()
	h := sha256.New()
	have, err := io.Copy(h, file) // hash what an earlier try left
	if err != nil {
		return fmt.Errorf("download %s: read %s: %w", name, part, err)
	}
	if have > a.Size {
		have, h = 0, sha256.New()
	}
	for try := 0; have < a.Size; try++ {
		// A transfer cut for being too slow resumes at once from what
		// arrived, a few times; other errors wait for the next check.
		have, err = f.fetchRange(ctx, name, file, h, have, a.Size, progress)
		if err != nil && (!errors.Is(err, ErrTooSlow) || try >= f.retries() || ctx.Err() != nil) {
			return err
		}
	}
	progress(have)
	if err := file.Sync(); err != nil {
		return fmt.Errorf("download %s: fsync %s: %w", name, part, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != a.SHA256 {
		file.Close()
		os.Remove(part)
		return fmt.Errorf("%w: %s has sha256 %s, the signed manifest says %s: discarded, it is fetched again on the next check", ErrHashMismatch, f.url(name), sum, a.SHA256)
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	return syncDir(filepath.Dir(path))
}

// fetchRange appends bytes have..size of name to file (at offset have),
// hashing them into h; a server that ignores Range starts the file over.
func (f *Fetcher) fetchRange(ctx context.Context, name string, file *os.File, h hash.Hash, have, size int64, progress func(int64)) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url(name), nil)
	if err != nil {
		return have, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return have, fmt.Errorf("download %s: %w", f.url(name), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-"):
	case resp.StatusCode == http.StatusOK:
		have = 0
		h.Reset()
		if err := file.Truncate(0); err != nil {
			return 0, fmt.Errorf("download %s: %w", name, err)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		file.Truncate(0)
		return 0, fmt.Errorf("%w: %s is shorter than the %d bytes the manifest says (the server refused bytes from %d on): republish", ErrTruncated, f.url(name), size, have)
	default:
		return have, fmt.Errorf("download %s: %s", f.url(name), resp.Status)
	}
	if _, err := file.Seek(have, io.SeekStart); err != nil {
		return have, err
	}
	w := &progressWriter{w: io.MultiWriter(file, h), n: have, report: progress}
	body := &countingReader{r: io.LimitReader(resp.Body, size-have+1)}
	stop := f.watchRate(body, cancel)
	_, cerr := io.Copy(w, body)
	stop()
	if cause := context.Cause(ctx); errors.Is(cause, ErrTooSlow) {
		return w.n, fmt.Errorf("%w: %s at byte %d of %d: %v: cut, kept, resumed", ErrTooSlow, f.url(name), w.n, size, cause)
	}
	if w.n > size {
		file.Truncate(0)
		return 0, fmt.Errorf("%w: %s is longer than the %d bytes the signed manifest says: discarded", ErrTooLarge, f.url(name), size)
	}
	if w.n < size {
		why := "the server ended the response"
		if cerr != nil {
			why = cerr.Error()
		}
		return w.n, fmt.Errorf("%w: got %d of the %d bytes of %s (%s): kept, the next try resumes", ErrTruncated, w.n, size, f.url(name), why)
	}
	return w.n, nil
}

// countingReader counts the bytes read through it, for watchRate.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// watchRate cancels a transfer (cause ErrTooSlow) when fewer than MinBytes
// arrive through r in a SlowWindow. stop ends the watch.
func (f *Fetcher) watchRate(r *countingReader, cancel context.CancelCauseFunc) (stop func()) {
	min, window := f.MinBytes, f.SlowWindow
	if min == 0 {
		min = DefaultMinBytes
	}
	if window <= 0 {
		window = DefaultSlowWindow
	}
	if min < 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(window)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := r.n.Load()
				if n-last < min {
					cancel(fmt.Errorf("%w: %d bytes in the last %v, the floor is %d", ErrTooSlow, n-last, window, min))
					return
				}
				last = n
			}
		}
	}()
	return func() { close(done) }
}

func (f *Fetcher) retries() int {
	if f.Retries == 0 {
		return DefaultRetries
	}
	return max(f.Retries, 0)
}

type progressWriter struct {
	w      io.Writer
	n      int64
	last   time.Time
	report func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 200*time.Millisecond {
		p.last = now
		p.report(p.n)
	}
	return n, err
}

// getSigned fetches name and name.sig, each at most MaxDocSize.
func (f *Fetcher) getSigned(ctx context.Context, name string) (data, sig []byte, err error) {
	if data, err = f.getSmall(ctx, name); err != nil {
		return nil, nil, err
	}
	if sig, err = f.getSmall(ctx, name+".sig"); err != nil {
		return nil, nil, err
	}
	return data, sig, nil
}

func (f *Fetcher) getSmall(ctx context.Context, name string) ([]byte, error) {
	// A server that drips a document a byte at a time must not hold the
	// check forever: the whole document has docTimeout.
	ctx, cancel := context.WithTimeout(ctx, docTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url(name), nil)
	if err != nil {
		return nil, fmt.Errorf("update.url %q: %w", f.URL, err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", f.url(name), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("check %s: not found: is channel %q published there (`updater publish`)?", f.url(name), f.Channel)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("check %s: %s", f.url(name), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocSize+1))
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", f.url(name), err)
	}
	if len(b) > MaxDocSize {
		return nil, fmt.Errorf("%w: %s is more than %d bytes", ErrTooLarge, f.url(name), MaxDocSize)
	}
	return b, nil
}

func (f *Fetcher) url(name string) string {
	u, err := url.Parse(f.URL)
	if err != nil {
		return strings.TrimSuffix(f.URL, "/") + "/" + name
	}
	return u.JoinPath(name).String()
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return defaultClient
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
}}

// Prune removes every version directory under Dir but keep's.
func (f *Fetcher) Prune(keep ...string) error {
	ents, err := os.ReadDir(f.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() && ValidVersion(e.Name()) && !slices.Contains(keep, e.Name()) {
			errs = append(errs, os.RemoveAll(filepath.Join(f.Dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
