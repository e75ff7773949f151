// Package api serves fleetd's HTTP API, shaped like fleet's v1 API (see
// internal/api/schema for the endpoints and JSON), on a root-only unix socket
// and optionally on TCP (mutual TLS required, loopback included; the Host
// header must name this machine, see HostCheck).
//
// It validates every request before anything is stored (unit name, unit
// file, [X-Fleet], MachineOf cycles, body size) and answers bad input with a
// 4xx whose message names the unit and the field. Journal requests for units
// on other machines are proxied to that machine's API. It owns no cluster
// logic: reads and writes go through the registry, local logs through the
// unit manager.
package api
