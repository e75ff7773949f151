// Package fleetctl is the fleetctl command line: fleet's fleetctl commands,
// flags, columns and messages, talking to fleetd over its HTTP API through
// internal/client. fleetctl/main.go only calls Main.
//
// Run is the whole program with its process injected (arguments, output,
// environment, clock, context), so tests and end-to-end harnesses call it
// in-process:
//
//	var out, errOut bytes.Buffer
//	code := fleetctl.Run(ctx, []string{"--endpoint", url, "list-units"},
//		fleetctl.Runtime{Stdout: &out, Stderr: &errOut})
//
// It owns argument handling and output only: no unit-file semantics (package
// unit), no scheduling, no transport (package client).
//
// Beyond fleet: list-units, list-unit-files, list-machines and status take
// -o/--output json; list-units has the fields reason and pid; list-machines
// has name, version and update; journal and status read logs over the API
// (no SSH) and journal takes --machine.
//
// fleet's SSH- and etcd-era flags (--tunnel, --ssh-username, --driver, ...)
// are accepted, each with a one-line note on stderr when given (compat.go);
// restart is fleet v1.0's: stop, wait, start, one unit after the other.
package fleetctl
