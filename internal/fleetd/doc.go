// Package fleetd wires one fleetd: flags into a Config, then etcd (member or
// client), registry, engine, agent, the native unit manager and the API, in
// that order, and tears them down in reverse. This is the one place where the
// layers meet; each layer's logic lives in its own package.
package fleetd
