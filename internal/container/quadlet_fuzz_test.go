package container

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// FuzzParseQuadlet: any [Container] section parses or is refused with a
// *unit.Error, without panicking, and what it accepts the runtime can use:
// an image, volume targets absolute below /, volume sources absolute or a
// volume name, a known network.
func FuzzParseQuadlet(f *testing.F) {
	for _, s := range []string{
		"Image=i\nExec=/bin/sh -c 'echo %i'\n",
		"Image=\"localhost/x\"\nEntrypoint=[\"/bin/sh\", \"-c\"]\n",
		"Image=i\nVolume=data-%i:/data:ro,nocopy\nVolume=/anon\nVolume=\n",
		"Image=i\nEnvironment=A=1 B \"C=two words\"\nEnvironment=\n",
		"Image=i\nReadOnly=yes\nReadOnlyTmpfs=no\nUserNS=auto:size=10\n",
		"Image=i\nRemapUsers=auto\nRemapUid=0:1:2\nNetwork=%i\nPublishPort=%i:80\n",
		"Image=i\nAppArmor=unconfined\nHealthMaxLogSize=1\nUIDMap=0:1:1\n",
		"Image=i\nHealthCmd=[\"/bin/true\"]\nHealthInterval=1s\nNotify=healthy\nHealthOnFailure=kill\n",
	} {
		f.Add("web@8080.service", s)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		if _, err := unit.ParseName(name); err != nil {
			return
		}
		uf, err := unit.Parse(name, []byte("[Container]\n"+body))
		if err != nil {
			return
		}
		cs, _, err := ParseQuadlet(name, uf, ParseOptions{Specifiers: unit.SubmitSpecifiers(name), Submit: true})
		if err != nil {
			if _, ok := err.(*unit.Error); !ok {
				t.Fatalf("error %v is not a *unit.Error", err)
			}
			return
		}
		if cs == nil {
			return // an empty [Container]: not a container unit
		}
		if cs.Image == "" {
			t.Fatalf("accepted without an image: %+v", cs)
		}
		for _, v := range cs.Volumes {
			if !strings.HasPrefix(v.Target, "/") || filepath.Clean(v.Target) == "/" {
				t.Fatalf("volume target %q", v.Target)
			}
			if v.Source != "" && (!filepath.IsAbs(v.Source) || v.Name != "") || v.Name != "" && !validVolumeName(v.Name) {
				t.Fatalf("volume %+v", v)
			}
			if strings.ContainsAny(v.Name, "/\x00") || v.Name == "." || v.Name == ".." {
				t.Fatalf("volume name %q leaves the volumes directory", v.Name)
			}
		}
		switch cs.Network {
		case "", NetworkBridge, NetworkHost, NetworkNone:
		default:
			t.Fatalf("network %q", cs.Network)
		}
	})
}
