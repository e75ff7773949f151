package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The cluster network (issue 10): one config for the whole cluster and one
// subnet per machine, each on the machine's long subnet lease.
const (
	networkConfigKey = Prefix + "network/config"
	subnetsDir       = Prefix + "subnets/"
)

// NetworkConfig is the cluster network, the same on every machine: the
// first fleetd to start writes it, the others check theirs against it.
type NetworkConfig struct {
	CIDR      string `json:"cidr"`      // e.g. 10.88.0.0/16
	SubnetLen int    `json:"subnetLen"` // per-machine prefix length, e.g. 24
	Backend   string `json:"backend"`   // host-gw or vxlan
}

// SubnetRecord says which machine holds a subnet and how to reach it.
type SubnetRecord struct {
	Machine  string `json:"machine"`
	PublicIP string `json:"publicIP"`          // the machine's address on the underlay
	VtepMAC  string `json:"vtepMAC,omitempty"` // vxlan: the machine's VTEP device MAC
}

// ErrSubnetTaken: another machine holds the subnet.
var ErrSubnetTaken = errors.New("registry: subnet held by another machine")

// subnetKey is subnets/<cidr> with the slash as a dash (10.88.1.0-24), as
// flannel writes it, so the CIDR stays one key segment.
func subnetKey(cidr string) string { return subnetsDir + strings.Replace(cidr, "/", "-", 1) }

func subnetOfKey(key string) string {
	return strings.Replace(strings.TrimPrefix(key, subnetsDir), "-", "/", 1)
}

// EnsureNetworkConfig stores want as the cluster's network unless one is
// stored already, and returns the one stored (want, or the first
// machine's). It writes only when none exists.
func (r *Registry) EnsureNetworkConfig(ctx context.Context, want NetworkConfig) (NetworkConfig, error) {
	val, err := json.Marshal(want)
	if err != nil {
		return NetworkConfig{}, err
	}
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(networkConfigKey), "=", 0)).
		Then(clientv3.OpPut(networkConfigKey, string(val))).
		Else(clientv3.OpGet(networkConfigKey)).
		Commit()
	if err != nil {
		return NetworkConfig{}, fmt.Errorf("registry: network config: %w", err)
	}
	if resp.Succeeded {
		return want, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return r.EnsureNetworkConfig(ctx, want)
	}
	var got NetworkConfig
	if err := json.Unmarshal(kvs[0].Value, &got); err != nil {
		return NetworkConfig{}, fmt.Errorf("registry: stored network config %s is corrupt: %w", networkConfigKey, err)
	}
	return got, nil
}

// Subnets reads every claimed subnet (by CIDR) and the revision read at;
// watch from rev+1. Records that do not decode are skipped.
func (r *Registry) Subnets(ctx context.Context) (map[string]SubnetRecord, int64, error) {
	resp, err := r.cli.Get(ctx, subnetsDir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("registry: read subnets: %w", err)
	}
	out := make(map[string]SubnetRecord, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rec SubnetRecord
		if json.Unmarshal(kv.Value, &rec) == nil {
			out[subnetOfKey(string(kv.Key))] = rec
		}
	}
	return out, resp.Header.Revision, nil
}

// ClaimSubnet writes rec under cidr on lease, if the subnet is free or
// already rec.Machine's (a reboot re-claims its subnet, with its new lease
// and addresses); otherwise ErrSubnetTaken. It is one transaction, so two
// machines racing for a subnet cannot both win.
func (r *Registry) ClaimSubnet(ctx context.Context, cidr string, rec SubnetRecord, lease LeaseID) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := subnetKey(cidr)
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("registry: claim subnet %s: %w", cidr, leaseErr(err))
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 { // freed in between
		return r.ClaimSubnet(ctx, cidr, rec, lease)
	}
	var old SubnetRecord
	if err := json.Unmarshal(kvs[0].Value, &old); err != nil || old.Machine != rec.Machine {
		return fmt.Errorf("%w: %s is %s's", ErrSubnetTaken, cidr, old.Machine)
	}
	if string(kvs[0].Value) == string(val) && kvs[0].Lease == int64(lease) {
		return nil
	}
	resp, err = r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", kvs[0].ModRevision)).
		Then(clientv3.OpPut(key, string(val), clientv3.WithLease(lease))).
		Commit()
	if err != nil {
		return fmt.Errorf("registry: re-claim subnet %s: %w", cidr, leaseErr(err))
	}
	if !resp.Succeeded {
		return r.ClaimSubnet(ctx, cidr, rec, lease)
	}
	return nil
}

// ReleaseSubnet deletes cidr if machine holds it (a machine removed for
// good, or a claim undone after a failed setup).
func (r *Registry) ReleaseSubnet(ctx context.Context, cidr, machine string) error {
	key := subnetKey(cidr)
	resp, err := r.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("registry: read subnet %s: %w", cidr, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	var old SubnetRecord
	if json.Unmarshal(resp.Kvs[0].Value, &old) == nil && old.Machine != machine {
		return fmt.Errorf("%w: %s is %s's", ErrSubnetTaken, cidr, old.Machine)
	}
	_, err = r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return fmt.Errorf("registry: release subnet %s: %w", cidr, err)
	}
	return nil
}

// SubnetEvent is one change to the subnets: Record nil when it was freed.
type SubnetEvent struct {
	CIDR   string
	Record *SubnetRecord
}

// WatchSubnets follows the subnets from revision rev (Subnets' plus one)
// and calls fn with each batch of changes. It returns when the watch fails
// or ctx is done; the caller reads again and watches anew.
func (r *Registry) WatchSubnets(ctx context.Context, rev int64, fn func([]SubnetEvent)) error {
	wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), subnetsDir, clientv3.WithPrefix(), clientv3.WithRev(rev))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("registry: watch subnets: %w", err)
		}
		evs := make([]SubnetEvent, 0, len(resp.Events))
		for _, ev := range resp.Events {
			e := SubnetEvent{CIDR: subnetOfKey(string(ev.Kv.Key))}
			if ev.Type == clientv3.EventTypePut {
				var rec SubnetRecord
				if json.Unmarshal(ev.Kv.Value, &rec) != nil {
					continue
				}
				e.Record = &rec
			}
			evs = append(evs, e)
		}
		fn(evs)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("registry: watch subnets: %w", ErrWatchClosed)
}
