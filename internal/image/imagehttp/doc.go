// Package imagehttp serves a host's image store (list and pull) over HTTP,
// and is the client for it. It is served beside the unit manager on the
// root-only unit-manager socket (internal/unitmgr/remote's
// ServerOptions.Also, which also checks the peer is root), so that fleetd
// (--unit-manager unix:PATH, NewClient on the same PATH) lists and pulls
// images on the store of the process hosting the units. Init does not pass
// it yet, so on a node those paths answer 501, as they did before.
//
//	GET  /v1/images        [image.Image]; 501 without a store
//	POST /v1/images/pull   {"ref": "..."} -> image.Image; 501 without a store
//
// Errors are a status with a JSON body {"error": "..."}, as remote's are.
//
// What it must not touch: the store's insides (internal/image owns them),
// units, and who may connect (the socket's owner decides that).
package imagehttp
