package remote_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// netManager records SetNetwork calls over a real manager.
type netManager struct {
	unitmgr.Manager
	got chan remote.NetworkRequest
	err error
}

func (m *netManager) SetNetwork(subnet, cluster string, mtu int) error {
	m.got <- remote.NetworkRequest{Subnet: subnet, ClusterCIDR: cluster, MTU: mtu}
	return m.err
}

// TestSetNetwork: fleetd's SetNetwork reaches the host's manager over the
// socket, its refusal comes back with its words, and a manager with no
// bridge (containers off) says so.
func TestSetNetwork(t *testing.T) {
	dir := t.TempDir()
	m, err := machine.New(machine.Config{Dir: filepath.Join(dir, "data"), MachineID: "0123456789abcdef0123456789abcdef", NoContainers: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	nm := &netManager{Manager: m, got: make(chan remote.NetworkRequest, 1)}
	for _, tc := range []struct {
		mgr  unitmgr.Manager
		fail error
		want string
	}{
		{nm, nil, ""},
		{nm, errors.New("netbridge: cannot move flotilla0 to 10.88.4.0/24: a container is attached"), "a container is attached"},
		{m, nil, "no container bridge to move to 10.88.3.0/24"},
	} {
		nm.err = tc.fail
		sock := filepath.Join(t.TempDir(), "units.sock")
		l, err := remote.Listen(sock)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- remote.Serve(ctx, l, tc.mgr, remote.ServerOptions{Logf: t.Logf}) }()
		c := dial(t, sock)
		req := remote.NetworkRequest{Subnet: "10.88.3.0/24", ClusterCIDR: "10.88.0.0/16", MTU: 1450}
		err = c.SetNetwork(context.Background(), req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("SetNetwork: %v", err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("SetNetwork: %v, want an error with %q", err, tc.want)
		}
		if tc.mgr == nm {
			select {
			case got := <-nm.got:
				if got != req {
					t.Errorf("manager got %+v, want %+v", got, req)
				}
			case <-time.After(5 * time.Second):
				t.Error("the manager was not called")
			}
		}
		c.Close()
		cancel()
		<-done
	}
}
