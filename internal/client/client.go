package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/node"
)

// DefaultEndpoint is where fleetd listens on every machine.
const DefaultEndpoint = "unix://" + node.FleetdSocket

// DefaultTimeout bounds one request when Options.Timeout is zero (fleet's 3s).
const DefaultTimeout = 3 * time.Second

// Options configure the transport. CAFile, CertFile and KeyFile are PEM files
// used for https endpoints: CAFile verifies the server, CertFile and KeyFile
// authenticate the client (mutual TLS).
type Options struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// Timeout bounds one request, body included; for the journal it bounds
	// only the wait for the response headers. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Client talks to one fleetd endpoint. It is safe for concurrent use.
type Client struct {
	endpoint string   // as given by the user, for messages
	base     *url.URL // scheme and host used to build request URLs
	hc       *http.Client
	timeout  time.Duration
}

// APIError is an error answered by fleetd: the HTTP code and its message,
// which names the unit and field. Error() is the server's message verbatim.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// ConnError says that the endpoint could not be reached or did not answer.
type ConnError struct {
	Endpoint string
	Err      error
}

func (e *ConnError) Error() string {
	msg := e.Err.Error()
	hint := "is fleetd running there? choose another with --endpoint or FLEETCTL_ENDPOINT"
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") {
		hint = "check --ca-file, --cert-file and --key-file (FLEETCTL_CA_FILE, FLEETCTL_CERT_FILE, FLEETCTL_KEY_FILE) and --endpoint"
	}
	return fmt.Sprintf("cannot reach fleetd at %s: %s (%s)", e.Endpoint, msg, hint)
}

func (e *ConnError) Unwrap() error { return e.Err }

// New returns a client of endpoint: http://host:port, https://host:port or
// unix:///path/to.sock (a bare /path/to.sock is taken as a unix socket too).
func New(endpoint string, opts Options) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	raw := endpoint
	if strings.HasPrefix(raw, "/") {
		raw = "unix://" + raw
	}
	ep, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: opts.Timeout}).DialContext,
		ResponseHeaderTimeout: opts.Timeout,
		TLSHandshakeTimeout:   opts.Timeout,
		MaxIdleConnsPerHost:   4,
	}
	base := &url.URL{Scheme: ep.Scheme, Host: ep.Host}
	switch ep.Scheme {
	case "http":
		if ep.Host == "" {
			return nil, fmt.Errorf("endpoint %q: no host:port", endpoint)
		}
	case "https":
		if ep.Host == "" {
			return nil, fmt.Errorf("endpoint %q: no host:port", endpoint)
		}
		cfg, err := tlsConfig(opts)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	case "unix":
		// "unix://run/fleetd.sock" parses with host "run": the user missed a slash.
		if ep.Host != "" {
			return nil, fmt.Errorf("endpoint %q: unix socket paths are absolute, as in unix:///run/fleetd/fleetd.sock", endpoint)
		}
		if ep.Path == "" {
			return nil, fmt.Errorf("endpoint %q: no socket path", endpoint)
		}
		sock := ep.Path
		d := &net.Dialer{Timeout: opts.Timeout}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
		base = &url.URL{Scheme: "http", Host: "fleetd"}
	default:
		return nil, fmt.Errorf("endpoint %q: scheme must be http, https or unix", endpoint)
	}
	return &Client{
		endpoint: endpoint,
		base:     base,
		hc:       &http.Client{Transport: tr},
		timeout:  opts.Timeout,
	}, nil
}

// Endpoint returns the endpoint the client was made for.
func (c *Client) Endpoint() string { return c.endpoint }

func tlsConfig(opts Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", opts.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case opts.CertFile != "" && opts.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s with key %s: %w", opts.CertFile, opts.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case opts.CertFile != "" || opts.KeyFile != "":
		return nil, errors.New("a client certificate needs both --cert-file and --key-file")
	}
	return cfg, nil
}
