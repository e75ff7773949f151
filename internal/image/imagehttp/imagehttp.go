package imagehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"time"

	"github.com/flotilla-os/flotilla/internal/image"
)

// Store is a host's image store as fleetd's API needs it
// (*container.Runtime is one).
type Store interface {
	List() ([]*image.Image, error)
	Pull(ctx context.Context, ref string) (*image.Image, error)
}

const noStore = "the unit manager's host runs no container runtime"

type pullRequest struct {
	Ref string `json:"ref"`
}

type errorBody struct {
	Error string `json:"error"`
}

// Handler serves s under /v1/images. A nil s, or a typed nil such as a nil
// *container.Runtime, answers 501.
func Handler(s Store) http.Handler {
	if s != nil {
		if v := reflect.ValueOf(s); v.Kind() == reflect.Pointer && v.IsNil() {
			s = nil
		}
	}
	h := handler{s}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/images", h.list)
	mux.HandleFunc("POST /v1/images/pull", h.pull)
	return mux
}

type handler struct{ s Store }

func (h handler) list(w http.ResponseWriter, r *http.Request) {
	if h.s == nil {
		writeError(w, http.StatusNotImplemented, "imagehttp: "+noStore)
		return
	}
	imgs, err := h.s.List()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if imgs == nil {
		imgs = []*image.Image{}
	}
	writeJSON(w, http.StatusOK, imgs)
}

func (h handler) pull(w http.ResponseWriter, r *http.Request) {
	if h.s == nil {
		writeError(w, http.StatusNotImplemented, "imagehttp: "+noStore)
		return
	}
	var in pullRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Ref == "" {
		writeError(w, http.StatusBadRequest, "imagehttp: pull: want a body {\"ref\": \"image reference\"}")
		return
	}
	img, err := h.s.Pull(r.Context(), in.Ref)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, img)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ListTimeout bounds a Client's List.
const ListTimeout = 30 * time.Second

// Client is the Store served on a unix socket.
type Client struct {
	path string
	hc   *http.Client
}

var _ Store = (*Client)(nil)

// NewClient returns the client of the store served on the unix socket at
// path. It connects on each call (keeping idle connections).
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}}
}

// List lists the host's images.
func (c *Client) List() ([]*image.Image, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ListTimeout)
	defer cancel()
	var imgs []*image.Image
	err := c.call(ctx, http.MethodGet, "/v1/images", nil, &imgs)
	return imgs, err
}

// Pull pulls ref into the host's store; ctx bounds it.
func (c *Client) Pull(ctx context.Context, ref string) (*image.Image, error) {
	b, _ := json.Marshal(pullRequest{Ref: ref})
	var img image.Image
	if err := c.call(ctx, http.MethodPost, "/v1/images/pull", bytes.NewReader(b), &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) call(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://unit-manager"+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("imagehttp: image store at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return fmt.Errorf("imagehttp: image store at %s answered %s: %s", c.path, resp.Status, bytes.TrimSpace(b))
		}
		return errors.New(e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("imagehttp: image store at %s: %s %s: bad answer: %w", c.path, method, path, err)
	}
	return nil
}
