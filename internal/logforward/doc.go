// Package logforward copies a node's log lines (every unit's output, and
// the node's own daemons' lines) to remote receivers: syslog, or JSON
// lines. It owns the destination syntax (Parse: fleetd's --log-forward and
// the boot config's log_forward), the record formats, one bounded buffer
// and one sender goroutine per destination, and the counters
// (Stats, Collector, StatsHandler/SocketStats).
//
// Destinations (Parse):
//
//	syslog+udp://HOST[:514]          RFC 5424, one record per datagram (RFC 5426)
//	syslog+tcp://HOST[:514]          RFC 5424, octet-counted frames "LEN SP RECORD" (RFC 6587 3.4.1)
//	syslog+tls://HOST[:6514][?ca=F]  the same over TLS (RFC 5425), verifying the server's
//	                                 certificate and name against F (PEM) or the system's roots
//	json+tcp://HOST:PORT             one JSON object per line
//	...?buffer=SIZE                  the destination's buffer: 4k to 64m, default 1m
//
// A syslog record is
//
//	<PRI>1 TIMESTAMP MACHINE UNIT - STREAM [flotilla@32473 unit="UNIT" machine="MACHINE"] LINE
//
// with facility daemon and severity info (stdout, and a daemon's own log)
// or err (stderr); APP-NAME is the unit cut to the RFC's 48 printable
// characters (the structured data keeps it whole), MSGID the stream,
// PROCID nil, and the message the line as written, without a BOM (the
// RFC's MSG-ANY). 32473 is the enterprise number RFC 5612 reserves for
// documentation: Flotilla has none of its own. rsyslog's imtcp and imptcp
// take octet-counted frames by default and tell them apart from
// newline-separated ones, so nothing is configured on the receiver; TCP
// framing by counting (rather than by newline) keeps a line that holds a
// newline or starts with a digit one record. A JSON line is
//
//	{"time":"RFC 3339 with ns","machine":"M","unit":"U","stream":"stdout|stderr|log","message":"..."}
//
// Talos' json_lines (machine.logging.destinations) has the same shape
// over TCP, newline-separated, with its own field names (msg,
// talos-service, talos-level, talos-time); ours are the ones above.
//
// Bounds and cost: Lines copies each line into its destination's buffer
// under a mutex and returns; it never waits for the network. When the
// buffer holds Buffer bytes (a line counts its bytes plus 64), further
// lines are dropped and counted. The sender takes the whole buffer at
// once, so at most twice Buffer is held per destination (the batch being
// sent and the buffer filling). A line is cut at MaxMessage bytes. The
// sender sleeps on a channel while nothing comes (no timer, no polling),
// and once woken waits 5 ms for more lines to share a write. A receiver
// that is down or refuses costs retries with backoff (100 ms doubling to
// 10 s), one log line per new error, and the dropped counter; a batch
// that failed mid-write counts as dropped (TCP cannot say what arrived),
// the rest is sent after reconnecting. Close sends what is left within
// about twice FlushTimeout (2 s each by default), then counts the rest
// as dropped. "Sent" means written to the
// socket: without an application-level acknowledgement (RELP) nothing
// more is known.
//
// What it must not touch: where lines come from (the unit managers and
// fleetd hand them in), the unit logs on disk, and the metrics registry
// (fleetd registers Collector).
package logforward
