package fleetctl

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRolloutFlagsRefusedBeforeSending: bad rollout settings are refused
// by fleetctl itself; the endpoint given would refuse any connection.
func TestRolloutFlagsRefusedBeforeSending(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "--max-unavailable", "0", "web@.service"}, "--max-unavailable 0: want 1 or more"},
		{[]string{"rollout", "--min-healthy", "10s", "--deadline", "5s", "web@.service"}, "--deadline 5s: want more than --min-healthy 10s"},
		{[]string{"rollback", "--max-unavailable", "-1", "web@1.service"}, "--max-unavailable -1"},
		{[]string{"restart", "--rolling", "--max-unavailable", "0", "web@1.service"}, "--max-unavailable 0"},
		{[]string{"rollout"}, "no unit files given"},
		{[]string{"start", "--rolling", "web@1.service"}, "needs --replace"},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"--endpoint", "http://127.0.0.1:1"}, tc.args...), Runtime{Stdout: &out, Stderr: &errOut})
		if code != 1 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("fleetctl %s: exit %d, stderr %q; want 1 and %q", strings.Join(tc.args, " "), code, errOut.String(), tc.want)
		}
	}
}
