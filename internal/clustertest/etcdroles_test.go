package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// etcdRoles reads `fleetctl list-machines --fields name,etcd` into a map
// from machine name to role.
func etcdRoles(c *Cluster) (map[string]string, error) {
	out, errOut, err := c.Fleetctl("list-machines", "--no-legend", "--fields", "name,etcd")
	if err != nil {
		return nil, fmt.Errorf("list-machines: %v: %s", err, errOut)
	}
	roles := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			roles[f[0]] = f[1]
		}
	}
	return roles, nil
}

// leaderOf is the one machine whose role is leader.
func leaderOf(roles map[string]string) (string, error) {
	var leaders []string
	for name, role := range roles {
		if role == "leader" {
			leaders = append(leaders, name)
		}
	}
	if len(leaders) != 1 {
		return "", fmt.Errorf("%d raft leaders in %v", len(leaders), roles)
	}
	return leaders[0], nil
}

// TestEtcdRoles: list-machines' etcd field names raft's leader, the other
// members and the client-only machine, and follows the leader when it is
// SIGKILLed.
func TestEtcdRoles(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 1)
	c.StartAll()
	var roles map[string]string
	var leader string
	if err := testutil.Eventually(20*time.Second, func() (err error) {
		if roles, err = etcdRoles(c); err != nil {
			return err
		}
		if len(roles) != 4 || roles["n4"] != "client" {
			return fmt.Errorf("roles %v, want n1-n3 members and n4 a client", roles)
		}
		leader, err = leaderOf(roles)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != leader && roles[n] != "member" {
			t.Errorf("%s is %q, want member (roles %v)", n, roles[n], roles)
		}
	}
	var victim *Node
	for _, n := range c.Nodes {
		if n.Name == leader {
			victim = n
		}
	}
	c.Kill(victim)
	if err := testutil.Eventually(20*time.Second, func() error {
		roles, err := etcdRoles(c)
		if err != nil {
			return err
		}
		next, err := leaderOf(roles)
		if err == nil && next == leader {
			err = fmt.Errorf("the killed %s is still shown as leader", leader)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
