package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// MaxRows bounds the units, states and machines one page shows: one page
// of the API's listings.
const MaxRows = 1000

// MaxLogLines bounds a log tail.
const MaxLogLines = 500

// maxBody bounds what one in-process API answer may hold.
const maxBody = 32 << 20

// ErrNotFound marks a unit the cluster does not know.
var ErrNotFound = errors.New("statuspage: not found")

// Listing is one bounded listing: More says rows were left out.
type Listing[T any] struct {
	Rows []T
	More bool
}

// Source is what the page reads.
type Source interface {
	Machines(ctx context.Context) (Listing[*schema.Machine], error)
	Units(ctx context.Context) (Listing[*schema.Unit], error)
	// States lists the reported states, of unit only when unit is not "".
	States(ctx context.Context, unit string) (Listing[*schema.UnitState], error)
	// Unit is one unit with its options; ErrNotFound when unknown.
	Unit(ctx context.Context, name string) (*schema.Unit, error)
	// Log is the last lines of name's log, from the machine running it.
	Log(ctx context.Context, name string, lines int) (string, error)
}

// FromAPI is a Source serving the fleet v1 API handler h in-process.
func FromAPI(h http.Handler) Source { return apiSource{h} }

type apiSource struct{ h http.Handler }

func (s apiSource) Machines(ctx context.Context) (Listing[*schema.Machine], error) {
	var p schema.MachinePage
	err := s.getJSON(ctx, "/fleet/v1/machines", url.Values{"pageSize": {strconv.Itoa(MaxRows)}}, &p)
	return Listing[*schema.Machine]{p.Machines, p.NextPageToken != ""}, err
}

func (s apiSource) Units(ctx context.Context) (Listing[*schema.Unit], error) {
	var p schema.UnitPage
	err := s.getJSON(ctx, "/fleet/v1/units", url.Values{"pageSize": {strconv.Itoa(MaxRows)}}, &p)
	return Listing[*schema.Unit]{p.Units, p.NextPageToken != ""}, err
}

func (s apiSource) States(ctx context.Context, unit string) (Listing[*schema.UnitState], error) {
	q := url.Values{"pageSize": {strconv.Itoa(MaxRows)}}
	if unit != "" {
		q.Set("unitName", unit)
	}
	var p schema.UnitStatePage
	err := s.getJSON(ctx, "/fleet/v1/state", q, &p)
	return Listing[*schema.UnitState]{p.States, p.NextPageToken != ""}, err
}

func (s apiSource) Unit(ctx context.Context, name string) (*schema.Unit, error) {
	var u schema.Unit
	if err := s.getJSON(ctx, "/fleet/v1/units/"+url.PathEscape(name), nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func (s apiSource) Log(ctx context.Context, name string, lines int) (string, error) {
	q := url.Values{"lines": {strconv.Itoa(lines)}}
	rec, err := s.get(ctx, "/fleet/v1/units/"+url.PathEscape(name)+"/journal", q)
	if err != nil {
		return "", err
	}
	return rec.body.String(), nil
}

func (s apiSource) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	rec, err := s.get(ctx, path, q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("statuspage: GET %s: %w", path, err)
	}
	return nil
}

// get serves one GET to the API handler; an answer other than 200 is an
// error carrying the API's message (ErrNotFound for a 404).
func (s apiSource) get(ctx context.Context, path string, q url.Values) (*recorder, error) {
	u := path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = "statuspage"
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	s.h.ServeHTTP(rec, req)
	if rec.over {
		return nil, fmt.Errorf("statuspage: GET %s: answer larger than %d bytes", path, maxBody)
	}
	if rec.code == http.StatusOK {
		return rec, nil
	}
	var e schema.Error
	msg := strings.TrimSpace(rec.body.String())
	if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	if rec.code == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, msg)
	}
	return nil, fmt.Errorf("%s: %s", http.StatusText(rec.code), msg)
}

// recorder is a bounded in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
	over   bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(p) > maxBody {
		r.over = true
		return 0, errors.New("statuspage: answer too large")
	}
	return r.body.Write(p)
}
