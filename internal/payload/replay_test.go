package payload

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPointerReplay: a server that hands a node an older signed pointer
// (here the 1.0.0 pointer kept from before 1.1.0 was published) is refused
// once the node has seen a newer serial, and so is one past its expiry.
func TestPointerReplay(t *testing.T) {
	out, _, f, key := published(t) // 1.0.0 (serial 1), then 1.1.0 (serial 2)
	cur, _ := os.ReadFile(filepath.Join(out, "stable.json"))
	if !strings.Contains(string(cur), `"serial": 2`) || !strings.Contains(string(cur), `"expires"`) {
		t.Fatalf("pointer after two publishes:\n%s", cur)
	}
	var seen uint64
	o := CheckOptions{Current: "1.0.0", Seen: func(n uint64) error { seen = n; return nil }}
	if _, err := f.Check(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if seen != 2 {
		t.Fatalf("Seen got serial %d, want 2", seen)
	}

	// Keep the current pointer, publish 1.2.0 (serial 3), then replay the
	// kept serial-2 pointer, which is validly signed and unexpired.
	old := map[string][]byte{}
	for _, n := range []string{"stable.json", "stable.json.sig"} {
		old[n], _ = os.ReadFile(filepath.Join(out, n))
	}
	if _, err := Publish(key, makePayload(t, "1.2.0", "stable", Arch, 10, 10), out, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	o.Current = "1.0.0"
	if _, err := f.Check(context.Background(), o); err != nil || seen != 3 {
		t.Fatalf("check after 1.2.0: serial %d, %v", seen, err)
	}
	for n, b := range old {
		if err := os.WriteFile(filepath.Join(out, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o.LastSerial = seen
	_, err := f.Check(context.Background(), o)
	if !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed pointer: %v, want ErrReplayed", err)
	}
	wantErr(t, err, "pointer for channel stable has serial 2, older than the last seen serial 3")
	if seen != 3 {
		t.Errorf("a replayed pointer moved the last seen serial to %d", seen)
	}

	// The same pointer, a week and a day later: expired, whatever the serial.
	f.Now = func() time.Time { return time.Now().Add(DefaultPointerValidity + 24*time.Hour) }
	o.LastSerial = 0
	_, err = f.Check(context.Background(), o)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("expired pointer: %v, want ErrExpired", err)
	}
	wantErr(t, err, "pointer for channel stable expired at", "publish again")
}

// TestPublishRefreshesPointer: publishing a version that does not move the
// pointer still signs it again, with the next serial and a new expiry, and
// the validity can be chosen.
func TestPublishRefreshesPointer(t *testing.T) {
	key, _ := newKey(t)
	out := t.TempDir()
	p := makePayload(t, "1.0.0", "stable", Arch, 10, 10)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	res, err := Publish(key, p, out, PublishOptions{Now: func() time.Time { return now }})
	if err != nil || res.Serial != 1 || !res.Expires.Equal(now.Add(DefaultPointerValidity)) {
		t.Fatalf("first publish: %+v, %v", res, err)
	}
	res, err = Publish(key, p, out, PublishOptions{Now: func() time.Time { return now.Add(time.Hour) }, Validity: 48 * time.Hour})
	if err != nil || res.Moved || res.Serial != 2 || !res.Expires.Equal(now.Add(49*time.Hour)) {
		t.Fatalf("republish: %+v, %v", res, err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "stable.json"))
	ptr, err := ParsePointer(data, "stable.json")
	if err != nil || ptr.Serial != 2 || ptr.Version != "1.0.0" || !ptr.Expires.Equal(now.Add(49*time.Hour)) {
		t.Fatalf("pointer: %+v, %v", ptr, err)
	}
	// A pointer written by an older publisher is replaced: serial 1.
	os.WriteFile(filepath.Join(out, "stable.json"), []byte(`{"channel":"stable","version":"1.0.0"}`), 0o644)
	if res, err = Publish(key, p, out, PublishOptions{}); err != nil || res.Serial != 1 {
		t.Fatalf("over an old-format pointer: %+v, %v", res, err)
	}
}

// TestDripCut: a server that sends part of the root and then a byte every
// 50 ms is cut by the rate floor and the download resumes from what came;
// before, the transfer never ended (only the caller's deadline stopped it).
func TestDripCut(t *testing.T) {
	out, _, f, _ := published(t)
	h := Handler(out, func(string, ...any) {})
	var drips, ranges atomic.Int32
	var always atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The first two requests for the root (and all of them once
		// always is set) send 20 000 bytes at once, then a byte every
		// 50 ms until the client goes away.
		if strings.HasSuffix(r.URL.Path, "/root.squashfs") && (always.Load() || drips.Load() < 2) {
			drips.Add(1)
			h.ServeHTTP(&dripWriter{ResponseWriter: w, ctx: r.Context(), fast: 20_000}, r)
			return
		}
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/"
	f.MinBytes, f.SlowWindow = 4096, 300*time.Millisecond
	m, err := f.Check(context.Background(), CheckOptions{Current: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	files, err := f.Download(ctx, m)
	if err != nil {
		t.Fatalf("download from a dripping server: %v (after %v)", err, time.Since(start))
	}
	if drips.Load() != 2 || ranges.Load() == 0 {
		t.Errorf("drips %d, range requests %d: want two cut drips, then a resumed range", drips.Load(), ranges.Load())
	}
	if sum, n, err := HashFile(files.Root); err != nil || n != m.Root.Size || sum != m.Root.SHA256 {
		t.Errorf("root after resume: %d bytes %s %v", n, sum, err)
	}

	// A server that always drips fails the download after the retries,
	// with the partial file kept for the next check.
	always.Store(true)
	os.RemoveAll(filepath.Join(f.Dir, m.Version))
	f.Retries = 1
	_, err = f.Download(ctx, m)
	if !errors.Is(err, ErrTooSlow) {
		t.Fatalf("always dripping: %v, want ErrTooSlow", err)
	}
	wantErr(t, err, "root.squashfs", "in the last 300ms, the floor is 4096")
	if st, err := os.Stat(filepath.Join(f.Dir, m.Version, "root.squashfs.part")); err != nil || st.Size() < 20_000 {
		t.Errorf("partial file after the cut: %v %v", st, err)
	}
}

// dripWriter writes the first fast bytes at once and then one byte every
// 50 ms until its request is cancelled.
type dripWriter struct {
	http.ResponseWriter
	ctx  context.Context
	fast int
}

func (d *dripWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := 1
		if d.fast > 0 {
			k = min(d.fast, len(b))
			d.fast -= k
		} else {
			select {
			case <-d.ctx.Done():
				return n, d.ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		w, err := d.ResponseWriter.Write(b[:k])
		n += w
		if err != nil {
			return n, err
		}
		if fl, ok := d.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		b = b[k:]
	}
	return n, nil
}
