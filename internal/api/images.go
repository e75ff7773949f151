package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/image"
)

// Images is the machine's image store as the API sees it.
type Images interface {
	List() ([]*image.Image, error)
	Pull(ctx context.Context, ref string) (*image.Image, error)
}

func imageOf(machine string, img *image.Image) *schema.Image {
	return &schema.Image{MachineID: machine, Ref: img.Ref, Digest: img.Digest, Size: img.Size, Layers: len(img.Layers)}
}

// listImages answers for this machine, or forwards to the one named.
func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	machine := r.PathValue("id")
	if machine != s.cfg.MachineID {
		s.forward(w, r, machine, nil)
		return
	}
	if s.cfg.Images == nil {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("machine %s runs no container runtime (fleetd not root, or --no-containers)", machine))
		return
	}
	imgs, err := s.cfg.Images.List()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("machine %s: list images: %v", machine, err))
		return
	}
	out := schema.ImagePage{Images: make([]*schema.Image, 0, len(imgs))}
	for _, img := range imgs {
		out.Images = append(out.Images, imageOf(machine, img))
	}
	writeJSON(w, http.StatusOK, out)
}

// pullImage pulls on this machine, or forwards to the one named.
func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) {
	machine := r.PathValue("id")
	var in schema.PullRequest
	if err := decodeBody(w, r, &in); err != nil {
		writeError(w, statusOf(err), "pull: "+err.Error())
		return
	}
	if in.Ref == "" {
		writeError(w, http.StatusBadRequest, "pull: field ref is empty: name an image such as docker.io/library/redis:7 or docker-archive:/path.tar")
		return
	}
	if machine != s.cfg.MachineID {
		body, _ := json.Marshal(in)
		s.forward(w, r, machine, bytes.NewReader(body))
		return
	}
	if s.cfg.Images == nil {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("machine %s runs no container runtime (fleetd not root, or --no-containers)", machine))
		return
	}
	img, err := s.cfg.Images.Pull(r.Context(), in.Ref)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("pull %s on machine %s: %v", in.Ref, machine, err))
		return
	}
	writeJSON(w, http.StatusCreated, imageOf(machine, img))
}

// forward sends the request as it came to the named machine's API and
// copies the answer back.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, machine string, body io.Reader) {
	if r.Header.Get(proxiedByHeader) != "" {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("machine %s: a request forwarded to this machine (%s) names another machine", machine, s.cfg.MachineID))
		return
	}
	base, known, err := s.machineAPI(r.Context(), machine)
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	switch {
	case !known:
		writeError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not in the cluster (see fleetctl list-machines)", machine))
		return
	case base == "":
		writeError(w, http.StatusBadGateway, fmt.Sprintf("machine %s has no TCP API (started without --api-listen)", machine))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req.Header.Set(proxiedByHeader, s.cfg.MachineID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Peer.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("reach machine %s at %s: %v", machine, base, err))
		return
	}
	relay(w, resp)
}
