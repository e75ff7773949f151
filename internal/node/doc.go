// Package node is the contract of a booted Flotilla node, in one place:
// where its sockets, files and directories are (the root-only fleetd API
// socket, the TLS bundle and its file names, STATE's paths under /var),
// the ports and etcd URLs a lone member defaults to, and the flotilla.*
// keys of the kernel command line with one type (Cmdline) that parses and
// writes them.
//
// Init, fleetd, the updater, fleetctl's client and image-build all read
// these names from here, so a path or a key changes in one file.
//
// It is a leaf: it imports only the standard library and nothing of
// Flotilla's, so every package (init and the updater included, which must
// not link etcd) can import it. It owns names and the command line's
// grammar only: no I/O, no defaults of a particular program's flags other
// than the ones listed here, no behaviour.
package node
