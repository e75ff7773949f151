package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerConfig is the part of a docker config.json that carries registry
// credentials.
type dockerConfig struct {
	Auths       map[string]authn.AuthConfig `json:"auths"`
	CredsStore  string                      `json:"credsStore"`
	CredHelpers map[string]string           `json:"credHelpers"`
}

// keychain resolves credentials from one docker config.json.
type keychain struct {
	path string
	cfg  dockerConfig
}

// loadKeychain reads path; "" means ~/.docker/config.json if present,
// otherwise anonymous access.
func loadKeychain(path string) (authn.Keychain, error) {
	explicit := path != ""
	if !explicit {
		home, err := os.UserHomeDir()
		if err != nil {
			return authn.NewMultiKeychain(), nil
		}
		path = filepath.Join(home, ".docker", "config.json")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return authn.NewMultiKeychain(), nil // resolves to Anonymous
	}
	if err != nil {
		return nil, fmt.Errorf("image: docker config: %w", err)
	}
	k := &keychain{path: path}
	if err := json.Unmarshal(b, &k.cfg); err != nil {
		return nil, fmt.Errorf("image: docker config %s is not valid JSON: %w", path, err)
	}
	return k, nil
}

// registryKey reduces a config.json auths key ("https://host/v1/", "host")
// to the host.
func registryKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	if k == name.DefaultRegistry || k == "registry-1.docker.io" {
		return "docker.io"
	}
	return k
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	host := registryKey(r.RegistryStr())
	if helper := k.cfg.CredHelpers[host]; helper != "" {
		return authn.NewKeychainFromHelper(credHelper(helper)).Resolve(r)
	}
	for key, ac := range k.cfg.Auths {
		if registryKey(key) == host && (ac.Username != "" || ac.IdentityToken != "" || ac.RegistryToken != "") {
			return authn.FromConfig(ac), nil
		}
	}
	if k.cfg.CredsStore != "" {
		return authn.NewKeychainFromHelper(credHelper(k.cfg.CredsStore)).Resolve(r)
	}
	return authn.Anonymous, nil
}

// credHelper runs docker-credential-<name> get, per the credential helper
// protocol.
type credHelper string

func (h credHelper) Get(server string) (string, string, error) {
	cmd := exec.Command("docker-credential-"+string(h), "get")
	cmd.Stdin = strings.NewReader(server)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", "", err
	}
	var c struct{ Username, Secret string }
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		return "", "", err
	}
	return c.Username, c.Secret, nil
}
