package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

const apiPrefix = "/fleet/v1"

// maxPages stops a list call whose server keeps answering with page tokens.
const maxPages = 10000

// StateFilter narrows UnitStates; empty fields match everything.
type StateFilter struct {
	UnitName  string
	MachineID string
}

// Units returns every unit, following nextPageToken through all pages.
func (c *Client) Units(ctx context.Context) ([]*schema.Unit, error) {
	var all []*schema.Unit
	err := c.pages(ctx, "/units", nil, func(body []byte) (string, error) {
		var p schema.UnitPage
		if err := json.Unmarshal(body, &p); err != nil {
			return "", err
		}
		all = append(all, p.Units...)
		return p.NextPageToken, nil
	})
	return all, err
}

// Unit returns one unit, or nil and no error when it does not exist.
func (c *Client) Unit(ctx context.Context, name string) (*schema.Unit, error) {
	var u schema.Unit
	err := c.do(ctx, http.MethodGet, unitPath(name), nil, nil, &u)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUnit stores u (name, options and desired state). With replace, a unit
// of that name whose options differ is replaced; without, fleetd refuses
// (409). fleet's API replaces by default, so replace=false is always sent.
func (c *Client) CreateUnit(ctx context.Context, u *schema.Unit, replace bool) error {
	q := url.Values{"replace": {strconv.FormatBool(replace)}}
	return c.do(ctx, http.MethodPut, unitPath(u.Name), q, u, nil)
}

// SetUnitTargetState sets the desired state (inactive, loaded, launched) of unit name.
func (c *Client) SetUnitTargetState(ctx context.Context, name, state string) error {
	return c.do(ctx, http.MethodPut, unitPath(name), nil, &schema.Unit{Name: name, DesiredState: state}, nil)
}

// MetadataOp is one operation of PatchMachines, fleet's JSON patch of
// machine metadata: Op is "add", "replace" or "remove", Path is
// "/<machine ID>/metadata/<key>".
type MetadataOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value,omitempty"`
}

// PatchMachines applies metadata operations in order (fleet's PATCH
// /fleet/v1/machines). They outlive the machines leaving and rejoining.
func (c *Client) PatchMachines(ctx context.Context, ops []MetadataOp) error {
	return c.do(ctx, http.MethodPatch, "/machines", nil, ops, nil)
}

// DestroyUnit deletes unit name from the cluster.
func (c *Client) DestroyUnit(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, unitPath(name), nil, nil, nil)
}

// UnitStates returns the states matching filter, through all pages.
func (c *Client) UnitStates(ctx context.Context, filter StateFilter) ([]*schema.UnitState, error) {
	q := url.Values{}
	if filter.UnitName != "" {
		q.Set("unitName", filter.UnitName)
	}
	if filter.MachineID != "" {
		q.Set("machineID", filter.MachineID)
	}
	var all []*schema.UnitState
	err := c.pages(ctx, "/state", q, func(body []byte) (string, error) {
		var p schema.UnitStatePage
		if err := json.Unmarshal(body, &p); err != nil {
			return "", err
		}
		all = append(all, p.States...)
		return p.NextPageToken, nil
	})
	return all, err
}

// Machines returns every machine, through all pages.
func (c *Client) Machines(ctx context.Context) ([]*schema.Machine, error) {
	var all []*schema.Machine
	err := c.pages(ctx, "/machines", nil, func(body []byte) (string, error) {
		var p schema.MachinePage
		if err := json.Unmarshal(body, &p); err != nil {
			return "", err
		}
		all = append(all, p.Machines...)
		return p.NextPageToken, nil
	})
	return all, err
}

// Journal copies the last lines of unit name's journal to w, as fleetd
// streams them; machineID picks one machine of a unit running on several.
// With follow it keeps copying until ctx is done, which is then no error.
func (c *Client) Journal(ctx context.Context, name string, lines int, follow bool, machineID string, w io.Writer) error {
	q := url.Values{"lines": {strconv.Itoa(lines)}}
	if follow {
		q.Set("follow", "true")
	}
	if machineID != "" {
		q.Set("machineID", machineID)
	}
	if !follow {
		// The timeout bounds the headers (transport); give the body a bound too.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, http.MethodGet, unitPath(name)+"/journal", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	_, err = io.Copy(w, resp.Body)
	if err != nil && follow && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading journal of %s from %s: %w", name, c.endpoint, err)
	}
	return nil
}

func unitPath(name string) string {
	return "/units/" + url.PathEscape(name)
}

// pages GETs path until the page callback returns no next token.
func (c *Client) pages(ctx context.Context, path string, q url.Values, page func([]byte) (string, error)) error {
	seen := map[string]bool{}
	token := ""
	for i := 0; i < maxPages; i++ {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		if token != "" {
			pq.Set("nextPageToken", token)
		}
		var raw json.RawMessage
		if err := c.do(ctx, http.MethodGet, path, pq, nil, &raw); err != nil {
			return err
		}
		next, err := page(raw)
		if err != nil {
			return fmt.Errorf("decoding %s%s from %s: %w", apiPrefix, path, c.endpoint, err)
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("listing %s%s from %s: page token %q repeats", apiPrefix, path, c.endpoint, next)
		}
		seen[next] = true
		token = next
	}
	return fmt.Errorf("listing %s%s from %s: more than %d pages", apiPrefix, path, c.endpoint, maxPages)
}

// do sends one request bounded by the client timeout and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doTimeout(ctx, c.timeout, method, path, q, in, out)
}

// doTimeout is do with its own bound, for slow operations such as pulls.
func (c *Client) doTimeout(ctx context.Context, timeout time.Duration, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding answer to %s %s%s from %s: %w", method, apiPrefix, path, c.endpoint, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = apiPrefix + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ConnError{Endpoint: c.endpoint, Err: err}
	}
	return resp, nil
}

// checkStatus turns a 4xx/5xx answer into an *APIError carrying fleetd's message.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e schema.Error
	if err := json.Unmarshal(b, &e); err == nil && e.Error.Message != "" {
		code := e.Error.Code
		if code == 0 {
			code = resp.StatusCode
		}
		return &APIError{Code: code, Message: e.Error.Message}
	}
	msg := string(bytes.TrimSpace(b))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Code: resp.StatusCode, Message: fmt.Sprintf("fleetd answered %d: %s", resp.StatusCode, msg)}
}
