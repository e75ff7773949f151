// Package fleetd wires one fleetd: flags into a Config, then etcd (member or
// client), registry, engine, agent, the native unit manager and the API, in
// that order, and tears them down in reverse. This is the one place where the
// layers meet; each layer's logic lives in its own package.
//
// Transport policy (issue 17): loopback is not a boundary, since every local
// user and Network=host container reaches it. etcd is served and dialed only
// over mutual TLS: ParseFlags refuses every http:// etcd URL and https
// without certificates, and a lone member given no --tls-* gets a node-local
// CA and certificate in <data-dir>/tls (0700, keys 0600). The TCP API
// requires mutual TLS and a Host header naming this machine; plaintext is
// served only on the root-only unix socket.
//
// On a node, init passes --submit-units with its boot config: once fleetd
// serves, it submits the config's units the cluster does not have yet
// through its own API socket, so the API's checks apply, retrying every
// 5 s, once per boot (the boot ID in <data-dir>/units-submitted). Init
// itself never calls the API.
package fleetd
