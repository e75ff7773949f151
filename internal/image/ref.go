package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// kind is a reference's transport.
type kind int

const (
	kindRegistry kind = iota
	kindDockerArchive
	kindOCIArchive
	kindOCI
)

// Transport prefixes, spelled as Podman spells them.
const (
	prefixDocker        = "docker://"
	prefixDockerArchive = "docker-archive:"
	prefixOCIArchive    = "oci-archive:"
	prefixOCI           = "oci:"
)

// acceptedRefs is appended to every bad-reference error.
const acceptedRefs = "accepted: a registry reference (docker.io/library/redis:7, 127.0.0.1:5000/x:1, " +
	"repo@sha256:..., optionally prefixed docker://), docker-archive:/path.tar[:ref], " +
	"oci-archive:/path.tar[:tag], oci:/dir[:tag]"

// unsupported are Podman transports this store does not read.
var unsupported = []string{"containers-storage:", "dir:", "docker-daemon:", "ostree:", "sif:", "tarball:"}

type parsedRef struct {
	kind kind
	norm string         // normalised form, the key in the index
	reg  name.Reference // kindRegistry
	path string         // archives and layouts: absolute path
	sub  string         // archives and layouts: ref or tag inside, "" = the only one
}

func badRef(ref string, why any) error {
	return fmt.Errorf("image: bad reference %q: %v; %s", ref, why, acceptedRefs)
}

// parseRef parses a reference without touching the network.
func parseRef(ref string, insecure bool) (*parsedRef, error) {
	if ref == "" {
		return nil, badRef(ref, "empty")
	}
	for _, u := range unsupported {
		if strings.HasPrefix(ref, u) {
			return nil, badRef(ref, "transport "+strings.TrimSuffix(u, ":")+" is not supported")
		}
	}
	for _, t := range []struct {
		prefix string
		kind   kind
	}{{prefixDockerArchive, kindDockerArchive}, {prefixOCIArchive, kindOCIArchive}, {prefixOCI, kindOCI}} {
		rest, ok := strings.CutPrefix(ref, t.prefix)
		if !ok {
			continue
		}
		p, sub := splitPath(rest)
		if p == "" {
			return nil, badRef(ref, "no path after "+t.prefix)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, badRef(ref, err)
		}
		if t.kind == kindDockerArchive && sub != "" {
			if strings.HasPrefix(sub, "@") {
				return nil, badRef(ref, "docker-archive source indexes (@N) are not supported; name the image by its tag")
			}
			if _, err := name.NewTag(sub); err != nil {
				return nil, badRef(ref, err)
			}
		}
		norm := t.prefix + abs
		if sub != "" {
			norm += ":" + sub
		}
		return &parsedRef{kind: t.kind, norm: norm, path: abs, sub: sub}, nil
	}
	r := strings.TrimPrefix(ref, prefixDocker)
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.ParseReference(r, opts...)
	if err != nil {
		return nil, badRef(ref, err)
	}
	return &parsedRef{kind: kindRegistry, norm: normName(reg), reg: reg}, nil
}

// normName spells Docker Hub as docker.io, as Podman prints it.
func normName(r name.Reference) string {
	n := r.Name()
	if rest, ok := strings.CutPrefix(n, name.DefaultRegistry+"/"); ok {
		return "docker.io/" + rest
	}
	return n
}

// splitPath splits "path[:sub]". A path that exists as given wins, so paths
// containing ':' work when no sub-reference follows.
func splitPath(s string) (p, sub string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}
