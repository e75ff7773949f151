package fleetd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/flotilla-os/flotilla/internal/etcdnode"
)

// tlsConfigs builds the TCP API's server config (client certificates
// required) and the client config fleetd uses to reach peers' APIs.
func tlsConfigs(t etcdnode.TLS) (server, client *tls.Config, err error) {
	if !t.Enabled() {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetd: --tls-cert %s / --tls-key %s: %w", t.CertFile, t.KeyFile, err)
	}
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetd: --tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("fleetd: --tls-ca %s holds no PEM certificate", t.CAFile)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
