package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// TestSubnets claims subnets on a real etcd: one winner per race, a
// machine re-claims its own, a lease running out frees the subnet, the
// watch sees all of it, and the network config is written once.
func TestSubnets(t *testing.T) {
	node := clustertest.Etcd(t)
	r := New(node.Client)
	c := ctx(t)

	cfg := NetworkConfig{CIDR: "10.88.0.0/16", SubnetLen: 24, Backend: "vxlan"}
	got, err := r.EnsureNetworkConfig(c, cfg)
	if err != nil || got != cfg {
		t.Fatalf("first EnsureNetworkConfig = %+v, %v", got, err)
	}
	other := NetworkConfig{CIDR: "10.99.0.0/16", SubnetLen: 26, Backend: "host-gw"}
	if got, err := r.EnsureNetworkConfig(c, other); err != nil || got != cfg {
		t.Fatalf("second EnsureNetworkConfig = %+v, %v; want the first machine's %+v", got, err, cfg)
	}

	_, rev0, err := r.Subnets(c)
	must(t, err)
	var mu sync.Mutex
	var events []SubnetEvent
	wctx, wcancel := context.WithCancel(c)
	defer wcancel()
	go func() {
		_ = r.WatchSubnets(wctx, rev0+1, func(evs []SubnetEvent) {
			mu.Lock()
			events = append(events, evs...)
			mu.Unlock()
		})
	}()

	// A race: ten machines claim the same subnet at once; one wins.
	lease, err := r.Grant(c, time.Hour)
	must(t, err)
	var wg sync.WaitGroup
	results := make([]error, 10)
	for i := range results {
		wg.Go(func() {
			results[i] = r.ClaimSubnet(c, "10.88.1.0/24", SubnetRecord{Machine: fmt.Sprint("m", i), PublicIP: "192.0.2.1"}, lease)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrSubnetTaken):
			t.Errorf("claim by m%d: %v, want ErrSubnetTaken or nil", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d machines won the race for 10.88.1.0/24, want 1: %v", won, results)
	}
	subs, _, err := r.Subnets(c)
	must(t, err)
	winner := subs["10.88.1.0/24"].Machine

	// The holder re-claims it (a reboot: new address, new lease); another
	// machine still cannot.
	lease2, err := r.Grant(c, 2*time.Second)
	must(t, err)
	must(t, r.ClaimSubnet(c, "10.88.1.0/24", SubnetRecord{Machine: winner, PublicIP: "192.0.2.99"}, lease2))
	if err := r.ClaimSubnet(c, "10.88.1.0/24", SubnetRecord{Machine: "intruder"}, lease); !errors.Is(err, ErrSubnetTaken) {
		t.Fatalf("claim of a held subnet by another machine: %v, want ErrSubnetTaken", err)
	}
	if err := r.ReleaseSubnet(c, "10.88.1.0/24", "intruder"); !errors.Is(err, ErrSubnetTaken) {
		t.Fatalf("release by another machine: %v, want ErrSubnetTaken", err)
	}
	subs, _, err = r.Subnets(c)
	must(t, err)
	if subs["10.88.1.0/24"].PublicIP != "192.0.2.99" {
		t.Fatalf("after re-claim: %+v", subs)
	}
	// The new lease (2 s, not renewed) runs out: the subnet is free.
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs, _, err = r.Subnets(c)
		must(t, err)
		if _, ok := subs["10.88.1.0/24"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subnet still held 10 s after its 2 s lease")
		}
		time.Sleep(200 * time.Millisecond)
	}
	must(t, r.ClaimSubnet(c, "10.88.1.0/24", SubnetRecord{Machine: "intruder"}, lease))
	must(t, r.ReleaseSubnet(c, "10.88.1.0/24", "intruder"))

	// Keys: subnets/<ip>-<len>, one segment, as flannel writes them.
	resp, err := node.Client.Get(c, Prefix+"subnets/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	must(t, err)
	if len(resp.Kvs) != 0 {
		t.Fatalf("keys left: %v", resp.Kvs)
	}
	must(t, r.ClaimSubnet(c, "10.88.2.0/24", SubnetRecord{Machine: "k"}, lease))
	resp, err = node.Client.Get(c, Prefix+"subnets/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	must(t, err)
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != Prefix+"subnets/10.88.2.0-24" {
		t.Fatalf("key %v, want %ssubnets/10.88.2.0-24", resp.Kvs, Prefix)
	}

	// The watch saw: the winner's claim, the re-claim, the expiry, the
	// intruder's claim and release, and k's claim.
	deadline = time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(events)
		var last SubnetEvent
		if n > 0 {
			last = events[n-1]
		}
		mu.Unlock()
		if n >= 6 && last.CIDR == "10.88.2.0/24" && last.Record != nil && last.Record.Machine == "k" {
			mu.Lock()
			if events[2].Record != nil || events[0].Record == nil || events[1].Record.PublicIP != "192.0.2.99" {
				t.Errorf("watch events %+v", events)
			}
			mu.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch saw %d events (%+v), want 6 ending with k's claim", n, events)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
