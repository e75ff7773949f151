// Package schema holds the JSON shapes of fleetd's HTTP API, which follows
// fleet's v1 API under /fleet/v1. Both the server (internal/api) and the
// client (internal/client, used by fleetctl) import it; nothing else lives here.
//
// Endpoints:
//
//	GET    /fleet/v1/units[?nextPageToken=T&pageSize=N]     -> UnitPage
//	GET    /fleet/v1/units/{name}                           -> Unit
//	PUT    /fleet/v1/units/{name}   body Unit                 201 created, 204 updated
//	       (options+desiredState creates; desiredState alone changes state;
//	        options differing from the stored unit replace it, as in fleet,
//	        unless ?replace=false; Content-Type must be application/json, else 415)
//	DELETE /fleet/v1/units/{name}                             204
//	GET    /fleet/v1/units/{name}/journal?lines=N[&follow=true][&machineID=ID]
//	                                                          text/plain stream
//	GET    /fleet/v1/state[?unitName=U&machineID=M&nextPageToken=T] -> UnitStatePage
//	GET    /fleet/v1/state/{name}                           -> UnitState (first machine's), 404
//	GET    /fleet/v1/machines[?nextPageToken=T]             -> MachinePage
//	PATCH  /fleet/v1/machines  body [{op,path,value}]         204 (fleet's metadata JSON patch:
//	       op add|replace|remove, path /<machine ID>/metadata/<key>; kept across rejoins)
//	GET    /fleet/v1/discovery                              -> Google discovery document
//	any    / and /fleet/v1 (exactly)                           405, as fleet
//	GET    /fleet/v1/machines/{id}/images                   -> ImagePage (that machine's images)
//	POST   /fleet/v1/machines/{id}/images  body PullRequest  -> 201 Image (pull or load there)
//	GET    /health                                          -> 200 "ok" when etcd answers
//
// Errors are {"error":{"code":400,"message":"unit web.service: [X-Fleet] Global: ..."}}.
// Every answer carries fleet's "Server: fleetd/<version>". One nextPageToken at
// most, and not empty (400).
package schema
