// Package payload is the publishing and fetching side of Flotilla's A/B
// updates: the manifest of a version (its UKI and root squashfs with size
// and sha256), its ed25519 signature, semver ordering, the static server
// directory that `updater publish` writes and `updater serve` (or any HTTP
// server) serves, and the node's resumable, verifying download.
//
// A server directory looks like this:
//
//	SERVEDIR/stable.json          channel pointer {"channel","version","serial","expires"}
//	SERVEDIR/stable.json.sig      its signature
//	SERVEDIR/1.2.0/manifest.json  the version's manifest
//	SERVEDIR/1.2.0/manifest.json.sig
//	SERVEDIR/1.2.0/uki.efi
//	SERVEDIR/1.2.0/root.squashfs
//
// A .sig file is base64 (standard) of an 8-byte key ID (the first 8 bytes
// of sha256 of the public key) followed by the 64-byte ed25519 signature
// over the exact bytes of the signed file; the key ID lets a node tell "signed by
// a key I don't trust" from "tampered with".
//
// A pointer's serial grows with every signing and its expiry bounds how
// long it is good for: Check refuses an expired pointer (ErrExpired) and
// one below the caller's last seen serial (ErrReplayed). Downloads have a
// rate floor (Fetcher.MinBytes per SlowWindow): a drip is cut
// (ErrTooSlow) and resumed with Range.
//
// This package never writes a slot or the ESP (that is internal/bootslot);
// Fetcher writes only under its download directory on STATE, and verifies
// every signature before it downloads a byte of a UKI or root.
package payload
