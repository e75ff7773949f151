// Package unit is the unit-file model shared by every layer: parsing and
// canonical serialisation of systemd unit files (via go-systemd's unit
// package), content hashes, unit names (templates and instances), systemd/fleet
// specifiers, and the [X-Fleet] scheduling options with fleet's semantics.
//
// It owns no I/O beyond the byte slices it is handed and knows nothing of etcd,
// the engine or the unit manager. Errors are *Error values that name the unit,
// the section and the field so that the API can return them to users as-is.
package unit
