package imagehttp_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagehttp"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

type fakeStore struct{ pulled []string }

func (f *fakeStore) List() ([]*image.Image, error) {
	return []*image.Image{{Ref: "docker.io/library/busybox:1", Digest: "sha256:aa"}}, nil
}

func (f *fakeStore) Pull(_ context.Context, ref string) (*image.Image, error) {
	if strings.Contains(ref, "missing") {
		return nil, errors.New("pull " + ref + ": not found")
	}
	f.pulled = append(f.pulled, ref)
	return &image.Image{Ref: ref, Digest: "sha256:bb"}, nil
}

// serve serves h on a fresh unix socket until the test ends.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestListAndPull(t *testing.T) {
	store := &fakeStore{}
	c := imagehttp.NewClient(serve(t, imagehttp.Handler(store)))
	defer c.Close()
	imgs, err := c.List()
	if err != nil || len(imgs) != 1 || imgs[0].Ref != "docker.io/library/busybox:1" {
		t.Fatalf("List = %+v, %v", imgs, err)
	}
	img, err := c.Pull(context.Background(), "docker.io/library/redis:7")
	if err != nil || img.Digest != "sha256:bb" || len(store.pulled) != 1 {
		t.Fatalf("Pull = %+v, %v (pulled %q)", img, err, store.pulled)
	}
	if _, err := c.Pull(context.Background(), "x/missing:1"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("failed pull: %v, want the store's error", err)
	}
}

// TestNoStore: a nil store, typed or not, answers 501 naming the reason.
func TestNoStore(t *testing.T) {
	var typedNil *fakeStore
	for _, s := range []imagehttp.Store{nil, typedNil} {
		c := imagehttp.NewClient(serve(t, imagehttp.Handler(s)))
		if _, err := c.List(); err == nil || !strings.Contains(err.Error(), "no container runtime") {
			t.Errorf("List without a store: %v", err)
		}
		if _, err := c.Pull(context.Background(), "a/b:1"); err == nil || !strings.Contains(err.Error(), "no container runtime") {
			t.Errorf("Pull without a store: %v", err)
		}
	}
}

// TestBesideUnitManager: served as remote's Also on the unit-manager
// socket, the store answers on the same paths as before it moved out of
// remote, while the unit manager still answers its own.
func TestBesideUnitManager(t *testing.T) {
	testenv.NeedRoot(t) // remote answers root peers only
	sock := filepath.Join(t.TempDir(), "run", "units.sock")
	l, err := remote.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- remote.Serve(ctx, l, sim.New(), remote.ServerOptions{Also: imagehttp.Handler(&fakeStore{})})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c := imagehttp.NewClient(sock)
	if imgs, err := c.List(); err != nil || len(imgs) != 1 {
		t.Fatalf("List through remote: %+v, %v", imgs, err)
	}
	rc, err := remote.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if units := rc.Units(); len(units) != 0 {
		t.Fatalf("Units = %q", units)
	}
}

// TestRemoteWithoutAlso: a unit-manager socket serving nothing else answers
// the image paths 501, as it did when remote served the store itself.
func TestRemoteWithoutAlso(t *testing.T) {
	testenv.NeedRoot(t)
	sock := filepath.Join(t.TempDir(), "run", "units.sock")
	l, err := remote.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- remote.Serve(ctx, l, sim.New(), remote.ServerOptions{}) }()
	defer func() { cancel(); <-done }()
	c := imagehttp.NewClient(sock)
	if _, err := c.List(); err == nil || !strings.Contains(err.Error(), "serves only the unit manager") {
		t.Fatalf("List without Also: %v", err)
	}
}
