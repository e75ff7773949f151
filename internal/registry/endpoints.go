package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

const endpointsDir = Prefix + "endpoints/"

// Endpoint is where an active unit can be reached, as its machine's agent
// publishes it: endpoints/<machine>/<unit>, on the machine's lease.
type Endpoint struct {
	Unit        string `json:"unit"`
	Machine     string `json:"machine"`
	MachineAddr string `json:"machineAddr"`      // the machine's PublicIP
	Addr        string `json:"addr,omitempty"`   // the unit's bridge address; "" on the host's network
	Health      string `json:"health,omitempty"` // unit.State.Health
	Ports       []Port `json:"ports,omitempty"`  // from PublishPort=
}

// Port is one published port of an endpoint: HostPort on the machine's
// address reaches ContainerPort on the unit's own address.
type Port struct {
	HostPort      uint16 `json:"hostPort"`
	ContainerPort uint16 `json:"containerPort"`
	Protocol      string `json:"protocol"` // tcp | udp
}

// EndpointWrite is one endpoint change: a record to put, or a unit's
// endpoint to delete.
type EndpointWrite struct {
	Unit     string
	Endpoint *Endpoint // nil deletes
}

// WriteEndpoints writes a machine's endpoint changes on its lease, in as
// few transactions as TxnOps allows.
func (r *Registry) WriteEndpoints(ctx context.Context, machine string, lease LeaseID, ws []EndpointWrite) error {
	for start := 0; start < len(ws); start += TxnOps {
		end := min(start+TxnOps, len(ws))
		ops := make([]clientv3.Op, 0, end-start)
		for _, w := range ws[start:end] {
			key := endpointsDir + machine + "/" + w.Unit
			if w.Endpoint == nil {
				ops = append(ops, clientv3.OpDelete(key))
				continue
			}
			v, err := json.Marshal(w.Endpoint)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(key, string(v), clientv3.WithLease(lease)))
		}
		if _, err := r.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("registry: write %d endpoints of %s: %w", len(ops), machine, err)
		}
	}
	return nil
}

// EndpointKey names an endpoint in Endpoints' map and EndpointEvent:
// "<machine>/<unit>".
func EndpointKey(machine, unit string) string { return machine + "/" + unit }

// Endpoints reads every endpoint, keyed by EndpointKey, and the revision
// to watch from (plus one). A record that does not decode is skipped.
func (r *Registry) Endpoints(ctx context.Context) (map[string]*Endpoint, int64, error) {
	resp, err := r.cli.Get(ctx, endpointsDir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("registry: read endpoints: %w", err)
	}
	out := make(map[string]*Endpoint, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if e, err := decodeEndpoint(kv.Value); err == nil {
			out[strings.TrimPrefix(string(kv.Key), endpointsDir)] = e
		}
	}
	return out, resp.Header.Revision, nil
}

// EndpointEvent is one change to the endpoints.
type EndpointEvent struct {
	Key      string    // EndpointKey
	Endpoint *Endpoint // nil: deleted (the unit stopped, or its lease ran out)
}

// WatchEndpoints follows every endpoint from revision rev and calls fn
// with each batch of changes, in order, until the watch fails or ctx is
// done (then the caller reads again with Endpoints and watches anew).
func (r *Registry) WatchEndpoints(ctx context.Context, rev int64, fn func([]EndpointEvent)) error {
	wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), endpointsDir, clientv3.WithPrefix(), clientv3.WithRev(rev))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("registry: watch endpoints: %w", err)
		}
		evs := make([]EndpointEvent, 0, len(resp.Events))
		for _, ev := range resp.Events {
			key := strings.TrimPrefix(string(ev.Kv.Key), endpointsDir)
			if ev.Type == clientv3.EventTypeDelete {
				evs = append(evs, EndpointEvent{Key: key})
				continue
			}
			if e, err := decodeEndpoint(ev.Kv.Value); err == nil {
				evs = append(evs, EndpointEvent{Key: key, Endpoint: e})
			}
		}
		fn(evs)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("registry: watch endpoints: %w", ErrWatchClosed)
}

func decodeEndpoint(v []byte) (*Endpoint, error) {
	var e Endpoint
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, fmt.Errorf("registry: corrupt endpoint: %w", err)
	}
	return &e, nil
}
