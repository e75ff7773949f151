// Package pki makes the cluster's mutual-TLS material: a CA and the
// certificates it signs for nodes (server and client use) and for fleetctl
// (client use). It writes PEM files and nothing else; image-build and tests
// use it, fleetd only reads the files it produced.
package pki
