// Package statuspage is fleetd's web status page (issue 13, point 2): the
// cluster's machines and units at GET /, one unit's detail with its unit
// file and a tail of its log at /ui/units/{name}, and two fragments the
// page's script polls to refresh itself (/ui/live, /ui/units/{name}/log).
//
// The one seam is New(Source): Source is what the page reads, and FromAPI
// builds it from the fleet v1 API handler by serving it requests
// in-process, so the page sees exactly what fleetctl sees, with the same
// bounds (one page of at most MaxRows units, states and machines; a log
// tail of at most MaxLogLines lines, fetched from the unit's machine as
// the API's journal endpoint does). fleetd mounts the handler beside the
// API on both its listeners, so the page has the API's auth: mutual TLS
// on TCP, the root-only unix socket.
//
// Pages are rendered on the server with html/template from embedded
// templates and read without JavaScript; a small embedded script, where
// the browser runs it, fetches the fragments every two seconds and
// replaces the units table and the log tail. A Content-Security-Policy
// allows only this origin's script and style. The package owns no state
// and runs nothing between requests: no goroutines, no etcd writes.
package statuspage
