package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unitmgr/sim"
)

// pullStore is a real image store as the API's Images (what
// container.Runtime does for fleetd).
type pullStore struct{ s *image.Store }

func (p pullStore) List() ([]*image.Image, error) { return p.s.List() }

func (p pullStore) Pull(ctx context.Context, ref string) (*image.Image, error) {
	return p.s.Pull(ctx, ref, image.PullOptions{})
}

// TestImages: a machine lists and pulls into its real image store; another
// machine's API forwards both to it; a machine without containers says so.
func TestImages(t *testing.T) {
	testenv.NeedRoot(t) // unpacking whiteouts makes device nodes
	e := newEnv(t)      // machine "local": no image store
	store, err := image.Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	const remoteID = "imgs0000000000000000000000000000"
	remoteSrv := httptest.NewServer(api.New(api.Config{Registry: e.reg, Manager: sim.New(), MachineID: remoteID, Images: pullStore{store}}))
	t.Cleanup(remoteSrv.Close)
	lease := e.lease()
	for _, m := range []*registry.MachineRecord{{ID: localMachine, APIURL: e.srv.URL}, {ID: remoteID, APIURL: remoteSrv.URL}} {
		if err := e.reg.RegisterMachine(e.ctx(), m, lease); err != nil {
			t.Fatal(err)
		}
	}
	arch := filepath.Join(t.TempDir(), "bb.tar")
	imagetest.WriteDockerArchive(t, imagetest.BusyboxImage(t), "test/busybox:1", arch)

	if code, body := e.do("GET", "/fleet/v1/machines/"+localMachine+"/images", ""); code != http.StatusNotImplemented || !strings.Contains(body, "no container runtime") {
		t.Errorf("local list without a store = %d %s", code, body)
	}
	code, body := e.do("POST", "/fleet/v1/machines/"+remoteID+"/images", `{"ref":"docker-archive:`+arch+`"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"machineID":"`+remoteID) {
		t.Fatalf("forwarded pull = %d %s", code, body)
	}
	if code, body := e.do("GET", "/fleet/v1/machines/"+remoteID+"/images", ""); code != http.StatusOK || !strings.Contains(body, "docker-archive:") {
		t.Errorf("forwarded list = %d %s", code, body)
	}
	if code, body := e.do("POST", "/fleet/v1/machines/"+remoteID+"/images", `{"ref":"nosuch:/x"}`); code != http.StatusBadGateway || !strings.Contains(body, "nosuch:/x") {
		t.Errorf("bad ref = %d %s, want 502 naming it", code, body)
	}
	if code, body := e.do("POST", "/fleet/v1/machines/"+remoteID+"/images", `{"ref":""}`); code != http.StatusBadRequest || !strings.Contains(body, "ref") {
		t.Errorf("empty ref = %d %s", code, body)
	}
	if code, body := e.do("GET", "/fleet/v1/machines/nosuchmachine/images", ""); code != http.StatusNotFound || !strings.Contains(body, "nosuchmachine") {
		t.Errorf("unknown machine = %d %s", code, body)
	}
}
