// Package remote serves a unitmgr.Manager over a root-only unix socket and
// is the client for it, so that the units can live in one process (init, on
// Flotilla nodes) while the agent that drives them lives in another
// (fleetd). A fleetd restart or crash then leaves the units running.
//
// The host side:
//
//	l, err := remote.Listen("/run/flotilla/units.sock")
//	...
//	err = remote.Serve(ctx, l, mgr, remote.ServerOptions{Logf: log.Printf})
//
// and fleetd's side (*Client implements unitmgr.Manager):
//
//	c, err := remote.Dial(ctx, "/run/flotilla/units.sock")
//
// # Who may connect
//
// Listen makes the socket 0600 in a directory that is not writable by
// others (created 0700), removes a stale socket and refuses to start when
// another server answers on it. Serve also reads each connection's peer
// credentials (SO_PEERCRED) and answers 403 to every request of a peer
// whose uid is not 0.
//
// # Fencing across a client's death
//
// The units belong to the host, and Client.Close does not stop them. A
// client proves it is alive by POST /v1/alive every KeepaliveEvery (Dial
// does it first, then a goroutine). When no client has done so for the
// fence threshold, Serve calls Manager.Fence: the units stay loaded and
// end inactive, so a node whose fleetd died never keeps running units the
// cluster moves elsewhere. The threshold is the client's: each keepalive
// carries ClientOptions.FenceAfter, and fleetd sends ttl.Timing's
// ManagerFence (3/5 of its --ttl, as its agent's own fence), so the units
// die before fleetd's machine lease can expire whatever the TTL. A
// threshold under two keepalives (1 s) is refused, which fails Dial and so
// fleetd's start. A client that sends none (an older fleetd) gets
// ServerOptions.FenceAfter (default 3 s, right for the default 5 s TTL).
// The latest keepalive's threshold counts. A fleetd back within it finds
// its units running; its agent loads the same unit files again and starts
// them, which the native supervisor treats as no-ops (a running unit keeps
// its processes). A stopped (SIGSTOP) client sends no keepalives either,
// so it is fenced like a dead one.
//
// # Protocol
//
// HTTP/1.1 over the unix socket (the host in URLs is ignored), JSON bodies,
// NDJSON for the change stream and raw bytes for journals. Request bodies
// are bounded by MaxBody (1 MiB). Errors are a status with a JSON body
// {"error": "...", "code": "..."}; code "not-loaded" is
// unitmgr.ErrNotLoaded.
//
//	POST   /v1/alive                        keepalive (204); optional body {"fenceAfterMs": N}
//	                                        (400 when N is under two keepalives)
//	GET    /v1/units                        {"units": ["a.service", ...]}
//	PUT    /v1/units/{name}                 body: the unit file text (Load)
//	GET    /v1/units/{name}                 unit.State as JSON; 404 not-loaded
//	POST   /v1/units/{name}/start           204
//	POST   /v1/units/{name}/stop            204
//	DELETE /v1/units/{name}                 Unload, 204
//	GET    /v1/units/{name}/journal?lines=N&follow=1   the log, streamed with follow
//	POST   /v1/fence                        {"deadline": RFC 3339}; 204 or 500 naming survivors
//	GET    /v1/changes                      NDJSON {"unit": name} lines: first every
//	                                        loaded unit, then each change (coalesced)
//	any other path                          ServerOptions.Also, e.g. the image store
//	                                        (internal/image/imagehttp); 501 without
//
// Unit names are path-escaped. The unit file travels as text
// (unit.File.String, parsed again with unit.Parse): sections are grouped in
// first-seen order, which does not change what the file means.
//
// The client's Changes stream reconnects after a server restart (backoff
// up to 1 s) and then re-announces every unit it knew and every unit the
// server lists, so the agent re-reads their states.
//
// What this package must not do: own or stop the units (that is the host's
// Manager and its Close), know about the cluster, or serve anything but the
// unit manager itself: other services on the socket come in through Also.
package remote
