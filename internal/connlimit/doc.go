// Package connlimit keeps a flood of connections from taking a node's
// descriptors. It owns two things:
//
//   - Listener, a wrapper for an API listener that does the TLS handshake
//     itself, within a deadline, before the connection reaches the HTTP
//     server. Connections still handshaking are capped: at the cap the
//     oldest is closed to admit the newcomer, because a real client finishes
//     in milliseconds and a slow one is the likely attacker. Established
//     (authenticated) connections are capped separately; past that cap a
//     new one is closed at once. Connections that have sent a whole
//     ClientHello are evicted only when none that has not is left, so a
//     flood that drips its ClientHello never pushes out a real client
//     that is mid-handshake.
//   - RaiseFDLimit, which lifts the process's RLIMIT_NOFILE as far as the
//     kernel allows, and Share, which turns that limit into the API's caps
//     so that the API never takes more than a quarter of it and etcd always
//     has room for its WAL, snapshots and peers.
//
// It knows nothing of HTTP, etcd or the API's handlers; timeouts on
// requests belong to the http.Server that serves the listener.
package connlimit
