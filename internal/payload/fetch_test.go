package payload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// server serves a published directory over real HTTP on loopback, with
// Handler's log kept for assertions and an optional cut: the first
// response for a path ending in cutSuffix stops after cutAt bytes.
type server struct {
	*httptest.Server
	mu        sync.Mutex
	log       []string
	cutSuffix string
	cutAt     int
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("cut")
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.ResponseWriter.Write(b)
	c.left -= n
	return n, err
}

func serveDir(t *testing.T, dir string) *server {
	s := &server{}
	h := Handler(dir, func(format string, args ...any) {
		s.mu.Lock()
		s.log = append(s.log, fmt.Sprintf(format, args...))
		s.mu.Unlock()
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		cut := s.cutSuffix != "" && strings.HasSuffix(r.URL.Path, s.cutSuffix)
		if cut {
			s.cutSuffix = ""
		}
		s.mu.Unlock()
		if cut {
			w = &cutWriter{ResponseWriter: w, left: s.cutAt}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) logged(fragment string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.log {
		if strings.Contains(l, fragment) {
			return true
		}
	}
	return false
}

func TestPublish(t *testing.T) {
	key, k := newKey(t)
	out := t.TempDir()
	p1 := makePayload(t, "1.0.0", "stable", Arch, 100, 200)
	res, err := Publish(key, p1, out, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Moved || res.Pointer != "1.0.0" {
		t.Errorf("first publish: %+v", res)
	}
	for _, f := range []string{"stable.json", "stable.json.sig", "1.0.0/manifest.json", "1.0.0/manifest.json.sig", "1.0.0/uki.efi", "1.0.0/root.squashfs"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	checkSigned := func(name string) []byte {
		data, _ := os.ReadFile(filepath.Join(out, name))
		sig, _ := os.ReadFile(filepath.Join(out, name+".sig"))
		if err := Verify(pub(k), data, sig, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return data
	}
	orig, _ := os.ReadFile(filepath.Join(p1, "manifest.json"))
	if got := checkSigned("1.0.0/manifest.json"); string(got) != string(orig) {
		t.Error("published manifest differs from the payload's bytes")
	}
	p2 := makePayload(t, "1.1.0", "stable", Arch, 100, 200)
	if res, err := Publish(key, p2, out, PublishOptions{}); err != nil || !res.Moved {
		t.Fatalf("publish 1.1.0: %+v, %v", res, err)
	}
	if got := string(checkSigned("stable.json")); !strings.Contains(got, `"version": "1.1.0"`) {
		t.Errorf("pointer after 1.1.0: %s", got)
	}
	// The same 1.0.0 again: allowed, but the pointer does not move back.
	if res, err := Publish(key, p1, out, PublishOptions{}); err != nil || res.Moved || res.Pointer != "1.1.0" {
		t.Errorf("republish 1.0.0: %+v, %v", res, err)
	}
	// Another 1.0.0 with other bytes: refused unless forced.
	p1b := makePayload(t, "1.0.0", "stable", Arch, 100, 201)
	_, err = Publish(key, p1b, out, PublishOptions{})
	wantErr(t, err, "already holds a different 1.0.0", "or force")
	if res, err := Publish(key, p1b, out, PublishOptions{Force: true}); err != nil || !res.Moved || res.Pointer != "1.0.0" {
		t.Errorf("forced: %+v, %v", res, err)
	}
	// A payload whose files do not match its manifest is not signed.
	os.WriteFile(filepath.Join(p2, "root.squashfs"), []byte("changed"), 0o644)
	_, err = Publish(key, p2, out, PublishOptions{})
	wantErr(t, err, "root.squashfs is 7 bytes", "rebuild the payload")
	_, err = Publish(key, t.TempDir(), out, PublishOptions{})
	wantErr(t, err, "give the payload directory")
}

// published is a server directory with 1.0.0 and 1.1.0 on stable, served
// on loopback, and a fetcher for it running 1.0.0.
func published(t *testing.T) (out string, s *server, f *Fetcher, key string) {
	key, k := newKey(t)
	out = t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := Publish(key, makePayload(t, v, "stable", Arch, 3000, 200_000), out, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s = serveDir(t, out)
	f = &Fetcher{URL: s.URL + "/", PublicKey: pub(k), Channel: "stable", Dir: filepath.Join(t.TempDir(), "update")}
	return out, s, f, key
}

func TestFetchResume(t *testing.T) {
	_, s, f, _ := published(t)
	var last, total int64
	f.Progress = func(d, tt int64) { last, total = d, tt }
	m, err := f.Check(context.Background(), CheckOptions{Current: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "1.1.0" {
		t.Fatalf("Check = %s, want 1.1.0", m.Version)
	}
	s.mu.Lock()
	s.cutSuffix, s.cutAt = "/root.squashfs", 70_000
	s.mu.Unlock()
	_, err = f.Download(context.Background(), m)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut download: %v, want ErrTruncated", err)
	}
	wantErr(t, err, "got 70000 of the 200000 bytes", "the next try resumes")
	part := filepath.Join(f.Dir, "1.1.0", "root.squashfs.part")
	if st, err := os.Stat(part); err != nil || st.Size() != 70_000 {
		t.Fatalf("partial file: %v %v", st, err)
	}
	files, err := f.Download(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !s.logged("range=bytes=70000-") || !s.logged("→ 206") {
		t.Errorf("no resumed range request in the server log: %q", s.log)
	}
	for _, a := range []struct {
		path string
		want Artifact
	}{{files.UKI, m.UKI}, {files.Root, m.Root}} {
		if sum, n, err := HashFile(a.path); err != nil || sum != a.want.SHA256 || n != a.want.Size {
			t.Errorf("%s: %s %d %v", a.path, sum, n, err)
		}
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf(".part left behind: %v", err)
	}
	if last != total || total != m.UKI.Size+m.Root.Size {
		t.Errorf("progress %d of %d", last, total)
	}
	// Complete files are hashed, not fetched again.
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
	if _, err := f.Download(context.Background(), m); err != nil || s.logged("GET") {
		t.Errorf("second download: %v, log %q", err, s.log)
	}
	// Fetch checks one kept file: a UKI changed on disk is fetched anew
	// (only it), and a root untouched since is not fetched.
	os.WriteFile(files.UKI, []byte("bit rot"), 0o600)
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
	if p, err := f.Fetch(context.Background(), m, m.UKI); err != nil || p != files.UKI || !s.logged("/uki.efi") || s.logged("root.squashfs") {
		t.Errorf("Fetch of a changed UKI: %q %v, log %q", p, err, s.log)
	}
	if sum, _, err := HashFile(files.UKI); err != nil || sum != m.UKI.SHA256 {
		t.Errorf("the UKI fetched anew has sha256 %s (%v), want %s", sum, err, m.UKI.SHA256)
	}
	if p, err := f.Fetch(context.Background(), m, m.Root); err != nil || p != files.Root || s.logged("root.squashfs") {
		t.Errorf("Fetch of an intact root: %q %v, log %q", p, err, s.log)
	}
	// After a restart, the kept manifest is verified again.
	if lm, err := f.Local("1.1.0"); err != nil || *lm != *m {
		t.Errorf("Local: %+v, %v", lm, err)
	}
	os.WriteFile(filepath.Join(f.Dir, "1.1.0", "manifest.json"), []byte(strings.Replace(string(Marshal(m)), "1.1.0", "1.1.1", 1)), 0o600)
	_, err = f.Local("1.1.0")
	wantErr(t, err, "bad signature", "manifest.json")
	if err := f.Prune("1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "1.1.0")); !os.IsNotExist(err) {
		t.Errorf("Prune kept 1.1.0: %v", err)
	}
}

// TestFetchRefusals: every refusal names what is wrong, and Check writes
// nothing when it refuses.
func TestFetchRefusals(t *testing.T) {
	ctx := context.Background()
	noWrites := func(t *testing.T, f *Fetcher) {
		t.Helper()
		if ents, _ := os.ReadDir(f.Dir); len(ents) != 0 {
			t.Errorf("a refused check wrote into %s: %v", f.Dir, ents)
		}
	}
	t.Run("bad signature", func(t *testing.T) {
		out, _, f, _ := published(t)
		mp := filepath.Join(out, "1.1.0", "manifest.json")
		data, _ := os.ReadFile(mp)
		os.WriteFile(mp, []byte(strings.Replace(string(data), `"size": 3000`, `"size": 3001`, 1)), 0o644)
		_, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if !errors.Is(err, ErrBadSignature) {
			t.Errorf("%v, want ErrBadSignature", err)
		}
		wantErr(t, err, "bad signature on "+f.URL+"1.1.0/manifest.json")
		noWrites(t, f)
	})
	t.Run("unknown key", func(t *testing.T) {
		_, _, f, _ := published(t)
		_, other := newKey(t)
		f.PublicKey = pub(other)
		_, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if !errors.Is(err, ErrUnknownKey) {
			t.Errorf("%v, want ErrUnknownKey", err)
		}
		wantErr(t, err, "stable.json is signed by key", "this node trusts key "+KeyID(pub(other)))
		noWrites(t, f)
	})
	t.Run("hash mismatch", func(t *testing.T) {
		out, _, f, _ := published(t)
		root := filepath.Join(out, "1.1.0", "root.squashfs")
		data, _ := os.ReadFile(root)
		data[100] ^= 0xff
		os.WriteFile(root, data, 0o644)
		m, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Download(ctx, m)
		if !errors.Is(err, ErrHashMismatch) {
			t.Errorf("%v, want ErrHashMismatch", err)
		}
		wantErr(t, err, "root.squashfs has sha256", "the signed manifest says "+m.Root.SHA256, "discarded")
		if _, err := os.Stat(filepath.Join(f.Dir, "1.1.0", "root.squashfs.part")); !os.IsNotExist(err) {
			t.Errorf("mismatching file kept: %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		out, _, f, _ := published(t)
		os.Truncate(filepath.Join(out, "1.1.0", "root.squashfs"), 1000)
		m, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Download(ctx, m)
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("%v, want ErrTruncated", err)
		}
		wantErr(t, err, "got 1000 of the 200000 bytes")
		// The resumed try finds the server's file too short for the range.
		_, err = f.Download(ctx, m)
		wantErr(t, err, "truncated download", "shorter than the 200000 bytes")
	})
	t.Run("too long", func(t *testing.T) {
		out, _, f, _ := published(t)
		fh, _ := os.OpenFile(filepath.Join(out, "1.1.0", "uki.efi"), os.O_APPEND|os.O_WRONLY, 0)
		fh.Write([]byte("more"))
		fh.Close()
		m, _ := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		_, err := f.Download(ctx, m)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v, want ErrTooLarge", err)
		}
		wantErr(t, err, "longer than the 3000 bytes the signed manifest says")
	})
	t.Run("max size", func(t *testing.T) {
		_, _, f, _ := published(t)
		f.MaxSize = 100_000
		_, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		wantErr(t, err, "root.squashfs of 200000 bytes, more than the 100000 this node takes")
		noWrites(t, f)
	})
	t.Run("wrong arch", func(t *testing.T) {
		key, _ := newKey(t)
		out := t.TempDir()
		_, _, f, _ := published(t)
		k, _ := LoadOrCreateKey(key)
		f.PublicKey = pub(k)
		if _, err := Publish(key, makePayload(t, "2.0.0", "stable", "aarch64", 10, 10), out, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		f.URL = serveDir(t, out).URL
		_, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if !errors.Is(err, ErrWrongArch) {
			t.Errorf("%v, want ErrWrongArch", err)
		}
		wantErr(t, err, `is for "aarch64", this node is x86_64`)
		noWrites(t, f)
	})
	t.Run("wrong channel", func(t *testing.T) {
		out, _, f, _ := published(t)
		// beta.json is stable's pointer, copied: its signature is good.
		for _, ext := range []string{"", ".sig"} {
			data, _ := os.ReadFile(filepath.Join(out, "stable.json"+ext))
			os.WriteFile(filepath.Join(out, "beta.json"+ext), data, 0o644)
		}
		f.Channel = "beta"
		_, err := f.Check(ctx, CheckOptions{Current: "1.0.0"})
		if !errors.Is(err, ErrWrongChannel) {
			t.Errorf("%v, want ErrWrongChannel", err)
		}
		wantErr(t, err, `beta.json is for channel "stable", this node follows "beta"`)
		f.Channel = "edge"
		_, err = f.Check(ctx, CheckOptions{Current: "1.0.0"})
		wantErr(t, err, "edge.json: not found", `is channel "edge" published there`)
		noWrites(t, f)
	})
	t.Run("versions", func(t *testing.T) {
		_, _, f, _ := published(t)
		_, err := f.Check(ctx, CheckOptions{Current: "1.1.0"})
		if !errors.Is(err, ErrUpToDate) {
			t.Errorf("same version: %v, want ErrUpToDate", err)
		}
		_, err = f.Check(ctx, CheckOptions{Current: "1.2.0"})
		if !errors.Is(err, ErrOlder) {
			t.Errorf("older: %v, want ErrOlder", err)
		}
		wantErr(t, err, "offers 1.1.0, older than the running 1.2.0", "needs force")
		if m, err := f.Check(ctx, CheckOptions{Current: "1.2.0", Force: true}); err != nil || m.Version != "1.1.0" {
			t.Errorf("forced downgrade: %v", err)
		}
		_, err = f.Check(ctx, CheckOptions{Current: "1.0.0", Failed: []string{"1.1.0"}})
		if !errors.Is(err, ErrFailedVersion) {
			t.Errorf("failed: %v, want ErrFailedVersion", err)
		}
		wantErr(t, err, "1.1.0 failed to boot on this node and is not retried")
	})
}
