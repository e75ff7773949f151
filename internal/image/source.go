package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// source is an image resolved from a reference, ready to read.
type source struct {
	img    v1.Image
	digest string // manifest digest (docker-archive: config digest)
	// manifest: layers carry digests from a manifest that must be verified
	// (registry, OCI layouts). A docker-archive has none; its layers are
	// read uncompressed and verified against the config's diffIDs only.
	manifest bool
}

// Only this platform runs on a Flotilla node.
const wantOS, wantArch = "linux", "amd64"

// ociRefName is the OCI layout annotation holding an image's tag.
const ociRefName = "org.opencontainers.image.ref.name"

// resolve finds the image p names. cleanup releases temporary files and
// must be called after the layers have been read.
func (s *Store) resolve(ctx context.Context, p *parsedRef, o PullOptions) (src *source, cleanup func(), err error) {
	cleanup = func() {}
	switch p.kind {
	case kindRegistry:
		src, err = resolveRemote(ctx, p, o)
	case kindDockerArchive:
		src, err = resolveDockerArchive(p)
	case kindOCI:
		if err = checkLayout(p.path, p.norm); err != nil {
			return nil, cleanup, err
		}
		src, err = resolveLayout(p.path, p)
	case kindOCIArchive:
		var dir string
		dir, err = os.MkdirTemp(s.tmpDir(), "oci-archive-")
		if err != nil {
			return nil, cleanup, fmt.Errorf("image: %s: %w", p.norm, diskErr(err))
		}
		cleanup = func() { os.RemoveAll(dir) }
		if err = extractArchive(p.path, dir, o); err != nil {
			return nil, cleanup, fmt.Errorf("image: %s: %w", p.norm, diskErr(err))
		}
		src, err = resolveLayout(dir, p)
	}
	return src, cleanup, err
}

// extractArchive unpacks an oci-archive into dir: files and directories
// only (unpackOptions.Archive), within the size bounds, the archive's own
// size standing for the compressed size.
func extractArchive(path, dir string, o PullOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := &countReader{r: f}
	_, err = unpackTar(cr, dir, unpackOptions{Archive: true, Budget: o.budget(func() int64 { return cr.n })})
	return err
}

func resolveRemote(ctx context.Context, p *parsedRef, o PullOptions) (*source, error) {
	kc, err := loadKeychain(o.DockerConfig)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(p.reg, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc))
	if err != nil {
		return nil, registryErr(p, err, o)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryErr(p, err, o)
		}
		img, err = pickPlatform(idx, p.norm)
		if err != nil {
			return nil, err
		}
	} else if img, err = desc.Image(); err != nil {
		return nil, registryErr(p, err, o)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, registryErr(p, err, o)
	}
	return &source{img: img, digest: d.String(), manifest: true}, nil
}

func registryErr(p *parsedRef, err error, o PullOptions) error {
	reg := p.reg.Context().RegistryStr()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("image: pull %s from registry %s: %w", p.norm, reg, err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			cfg := o.DockerConfig
			if cfg == "" {
				cfg = "~/.docker/config.json"
			}
			return fmt.Errorf("image: registry %s refused %s (HTTP %d): check the credentials for %s in %s (PullOptions.DockerConfig): %w",
				reg, p.norm, te.StatusCode, reg, cfg, err)
		case http.StatusNotFound:
			return fmt.Errorf("image: %s not found in registry %s: check the repository and tag: %w", p.norm, reg, err)
		}
		return fmt.Errorf("image: registry %s failed for %s (HTTP %d): %w", reg, p.norm, te.StatusCode, err)
	}
	return fmt.Errorf("image: registry %s unreachable for %s: check the address and the network; "+
		"a plain-HTTP registry needs PullOptions.Insecure: %w", reg, p.norm, err)
}

// pickPlatform selects linux/amd64 from an index.
func pickPlatform(idx v1.ImageIndex, ref string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: %s: read index: %w", ref, err)
	}
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == wantOS && d.Platform.Architecture == wantArch && d.MediaType.IsImage() {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("image: %s: %s/%s manifest %s: %w", ref, wantOS, wantArch, d.Digest, err)
			}
			return img, nil
		}
		have = append(have, d.Platform.String())
	}
	return nil, fmt.Errorf("image: %s has no %s/%s image (it has: %s); Flotilla nodes run %s/%s only",
		ref, wantOS, wantArch, strings.Join(have, ", "), wantOS, wantArch)
}

func resolveDockerArchive(p *parsedRef) (*source, error) {
	var tag *name.Tag
	if p.sub != "" {
		t, err := name.NewTag(p.sub)
		if err != nil {
			return nil, badRef(p.norm, err)
		}
		tag = &t
	}
	img, err := tarball.ImageFromPath(p.path, tag)
	if err != nil {
		hint := ""
		if tag == nil {
			hint = " (an archive with several images needs docker-archive:PATH:REPO:TAG)"
		}
		return nil, fmt.Errorf("image: read %s%s: %w", p.norm, hint, err)
	}
	cd, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image: read %s: config: %w", p.norm, err)
	}
	return &source{img: img, digest: cd.String()}, nil
}

// resolveLayout picks the image p.sub names (or the only one) from the OCI
// layout in dir.
func resolveLayout(dir string, p *parsedRef) (*source, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("image: %s is not an OCI layout: %w", p.norm, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p.norm, err)
	}
	var chosen []v1.Descriptor
	var tags []string
	for _, d := range im.Manifests {
		t := d.Annotations[ociRefName]
		if t != "" {
			tags = append(tags, t)
		}
		if p.sub == "" || t == p.sub || strings.HasSuffix(t, ":"+p.sub) {
			chosen = append(chosen, d)
		}
	}
	var img v1.Image
	switch {
	case len(chosen) == 0:
		return nil, fmt.Errorf("image: no image tagged %q in %s (tags: %s)", p.sub, p.norm, strings.Join(tags, ", "))
	case p.sub == "" && allPlatformed(chosen):
		img, err = pickPlatform(ii, p.norm) // the layout's index is a platform index
	case len(chosen) > 1:
		return nil, fmt.Errorf("image: %s holds %d images; name one as %s:TAG (tags: %s)", p.norm, len(chosen), p.norm, strings.Join(tags, ", "))
	case chosen[0].MediaType.IsIndex():
		var child v1.ImageIndex
		if child, err = ii.ImageIndex(chosen[0].Digest); err == nil {
			img, err = pickPlatform(child, p.norm)
		}
	default:
		img, err = ii.Image(chosen[0].Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p.norm, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image: %s: %w", p.norm, err)
	}
	return &source{img: img, digest: d.String(), manifest: true}, nil
}

func allPlatformed(ds []v1.Descriptor) bool {
	for _, d := range ds {
		if d.Platform == nil {
			return false
		}
	}
	return true
}
