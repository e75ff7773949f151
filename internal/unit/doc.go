// Package unit is the unit-file model shared by every layer: parsing and
// canonical serialisation of systemd unit files (via go-systemd's unit
// package), content hashes, unit names (templates and instances), systemd/fleet
// specifiers, the [X-Fleet] scheduling options with fleet's semantics, and a
// unit's State as a unit manager reports it (systemd's load, active and sub
// states), which the registry stores and the agent compares.
//
// Specifiers have one expander (specifier.go): Name.Expand is fleet's,
// lenient, for [X-Fleet] values; Specifiers.Expand is the node's, strict
// as systemd's specifier_printf (an unknown letter is an error; "%{", "%,"
// and a trailing "%" are kept), for what a unit manager runs ([Service]
// values, and [Container] through internal/container). SplitWords and
// SplitCommandLine are systemd's word and Exec-line grammar for both.
//
// It owns no I/O beyond the byte slices it is handed, except LocalHost
// (host.go), which reads the node's boot ID, kernel release and os-release
// once for the specifiers that name them, and knows nothing of etcd,
// the engine or the unit manager. Errors are *Error values that name the unit,
// the section and the field so that the API can return them to users as-is.
package unit
