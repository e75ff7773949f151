package rebootlock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// ErrUnsafe wraps every refusal of CanReboot.
var ErrUnsafe = errors.New("rebootlock: rebooting now is unsafe")

// MemberTimeout bounds the status call to one etcd member.
const MemberTimeout = 3 * time.Second

// CanReboot refuses (with ErrUnsafe and the reason) while another etcd
// member is unhealthy, or while rebooting self would leave fewer healthy
// voters than a quorum. self is this node's etcd member name (fleetd
// --name); a node that is no member only needs the others healthy.
//
// A cluster of one voter may reboot: it has no quorum to keep, and is
// down during the reboot whatever we do. A cluster of two voters never
// may: either reboot stops it.
func CanReboot(ctx context.Context, cli *clientv3.Client, self string) error {
	members, err := memberHealth(ctx, cli)
	if err != nil {
		return err
	}
	return decide(members, self)
}

// decide is CanReboot's rule over the members' health.
func decide(members []member, self string) error {
	voters, healthy, selfVoter, selfHealthy := 0, 0, false, false
	var problems []string
	for _, m := range members {
		if m.learner {
			continue
		}
		voters++
		if m.err == nil {
			healthy++
		}
		if m.name == self {
			selfVoter, selfHealthy = true, m.err == nil
			continue
		}
		if m.err != nil {
			problems = append(problems, fmt.Sprintf("etcd member %s is unhealthy (%v)", m.label(), m.err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s; wait until it is back, or remove it from the cluster", ErrUnsafe, strings.Join(problems, "; "))
	}
	if selfVoter && voters > 1 {
		left := healthy
		if selfHealthy {
			left--
		}
		if need := voters/2 + 1; left < need {
			return fmt.Errorf("%w: rebooting %s would leave %d of %d etcd voters up, and quorum needs %d", ErrUnsafe, self, left, voters, need)
		}
	}
	return nil
}

type member struct {
	name    string
	urls    []string
	learner bool
	leader  uint64
	err     error
}

func (m member) label() string {
	if m.name == "" {
		return fmt.Sprintf("(unstarted, peer %s)", strings.Join(m.urls, ","))
	}
	return fmt.Sprintf("%s (%s)", m.name, strings.Join(m.urls, ","))
}

// memberHealth lists the members and asks each, in parallel, for its
// status through the client's own TLS.
func memberHealth(ctx context.Context, cli *clientv3.Client) ([]member, error) {
	lctx, cancel := context.WithTimeout(ctx, MemberTimeout)
	resp, err := cli.MemberList(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: cannot list etcd members: %v", ErrUnsafe, err)
	}
	out := make([]member, len(resp.Members))
	var wg sync.WaitGroup
	for i, m := range resp.Members {
		out[i] = member{name: m.Name, urls: m.ClientURLs, learner: m.IsLearner}
		if len(m.ClientURLs) == 0 {
			out[i].urls = m.PeerURLs
			out[i].err = errors.New("has not started")
			continue
		}
		wg.Go(func() { out[i].leader, out[i].err = status(ctx, cli, m.ClientURLs) })
	}
	wg.Wait()
	return out, nil
}

// status asks the first answering URL of a member for its status: it is
// healthy when it answers, knows a leader and raises no alarm.
func status(ctx context.Context, cli *clientv3.Client, urls []string) (leader uint64, err error) {
	for _, u := range urls {
		sctx, cancel := context.WithTimeout(ctx, MemberTimeout)
		st, serr := cli.Status(sctx, u)
		cancel()
		switch {
		case errors.Is(serr, context.DeadlineExceeded) && ctx.Err() == nil:
			err = fmt.Errorf("did not answer within %s", MemberTimeout)
		case serr != nil:
			err = serr
		case st.Leader == 0:
			return 0, errors.New("has no leader")
		case len(st.Errors) > 0:
			return st.Leader, fmt.Errorf("reports %s", strings.Join(st.Errors, "; "))
		default:
			return st.Leader, nil
		}
	}
	return 0, err
}

// HealthCheck names what Healthy checks.
type HealthCheck struct {
	// Socket is fleetd's local API socket; default /run/fleetd/fleetd.sock.
	Socket string
	// Machine is this machine's ID; its record must be registered.
	Machine string
	// Member is this node's etcd member name; "" when it is no member.
	Member string
}

// DefaultSocket is fleetd's local API socket on a node.
const DefaultSocket = node.FleetdSocket

// Healthy reports nil once this node is fit to bless its boot: fleetd
// answers /health on its local socket, the machine is registered, and etcd
// has a leader (and this node's member, if any, is healthy).
func Healthy(ctx context.Context, cli *clientv3.Client, h HealthCheck) error {
	if h.Socket == "" {
		h.Socket = DefaultSocket
	}
	if err := fleetdAnswers(ctx, h.Socket); err != nil {
		return err
	}
	if h.Machine != "" {
		ms, err := registry.New(cli).Machines(ctx)
		if err != nil {
			return fmt.Errorf("rebootlock: not healthy: %w", err)
		}
		if !registered(ms, h.Machine) {
			return fmt.Errorf("rebootlock: not healthy: machine %s is not registered (fleetd's agent has no lease yet)", h.Machine)
		}
	}
	return etcdHealthy(ctx, cli, h.Member)
}

func registered(ms []*registry.MachineRecord, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

func fleetdAnswers(ctx context.Context, socket string) error {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	defer hc.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://fleetd/health", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("rebootlock: not healthy: fleetd does not answer on %s: %w", socket, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rebootlock: not healthy: fleetd on %s answers /health with %s", socket, resp.Status)
	}
	return nil
}

func etcdHealthy(ctx context.Context, cli *clientv3.Client, self string) error {
	if self != "" {
		lctx, cancel := context.WithTimeout(ctx, MemberTimeout)
		resp, err := cli.MemberList(lctx)
		cancel()
		if err != nil {
			return fmt.Errorf("rebootlock: not healthy: cannot list etcd members: %w", err)
		}
		for _, m := range resp.Members {
			if m.Name == self {
				if _, err := status(ctx, cli, m.ClientURLs); err != nil || len(m.ClientURLs) == 0 {
					return fmt.Errorf("rebootlock: not healthy: this node's etcd member %s (%s): %v", self, strings.Join(m.ClientURLs, ","), err)
				}
				return nil
			}
		}
		// Not a member (a client node): a leader is enough.
	}
	var err error
	for _, ep := range cli.Endpoints() {
		if _, err = status(ctx, cli, []string{ep}); err == nil {
			return nil
		}
	}
	return fmt.Errorf("rebootlock: not healthy: no etcd endpoint reports a leader: %v", err)
}
