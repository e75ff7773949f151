package systemd

import (
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// The systemd backend's submit check passes [Service] keys systemd knows
// and the native manager doesn't, and refuses what its Load refuses.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, text, wantErr string
	}{
		{"tmp.service", "[Service]\nExecStart=/bin/true\nPrivateTmp=yes\n", ""},
		{"web.service", "[Container]\nImage=docker.io/library/busybox\nExec=httpd -f\n", ""},
		{"web.service", "[Container]\nExec=httpd -f\n", "Image"},
		{"web.service", "[Container]\nImage=docker.io/library/busybox\nPublishPort=1/tcp,udp,udp\n", "PublishPort"},
		{"web.service", "[Container]\nImage=docker.io/library/busybox\nBogusKey=1\n", "BogusKey"},
		{strings.Repeat("x", 300) + ".service", "[Service]\nExecStart=/bin/true\n", "name"},
	} {
		f, err := unit.Parse(tc.name, []byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		err = Validate(tc.name, f)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%.20s: %v, want accepted", tc.text, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%.40s: %v, want an error naming %s", tc.text, err, tc.wantErr)
		}
	}
}
