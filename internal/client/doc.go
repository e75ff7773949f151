// Package client is the Go client of fleetd's HTTP API (fleet's v1 API, shapes
// in internal/api/schema). fleetctl uses it; end-to-end tests may too.
//
// It owns the transport (http, https with mutual TLS, HTTP over a unix
// socket), paging (list calls follow nextPageToken to the end) and the mapping
// of error bodies to *APIError. It knows nothing of commands or output.
//
//	c, err := client.New("unix:///run/fleetd/fleetd.sock", client.Options{Timeout: 3 * time.Second})
//	if err != nil { ... }
//	units, err := c.Units(ctx)
//	var apiErr *client.APIError
//	if errors.As(err, &apiErr) && apiErr.Code == 409 { ... }
package client
