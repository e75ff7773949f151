package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// cordonDir holds the operator's cordons and drains (fleetctl cordon,
// drain). They carry no lease: a cordoned machine stays cordoned through
// its own restarts and reboots, until fleetctl uncordon. The updater's
// pre-reboot mark is drain/<machine> (reboot.go), a separate key on the
// reboot lock's lease, so neither clears the other.
const cordonDir = Prefix + "cordon/"

// CordonRecord is one machine's cordon.
type CordonRecord struct {
	Machine string `json:"machine"`
	// Drain moves the machine's units away as well (fleetctl drain); a
	// plain cordon only stops new placements there.
	Drain bool      `json:"drain,omitempty"`
	Since time.Time `json:"since"`
}

// Machine states shown by list-machines (the "state" field).
const (
	MachineActive   = ""         // placements go there
	MachineCordoned = "cordoned" // nothing new placed there; its units stay
	MachineDraining = "draining" // its units are moving away
	MachineDrained  = "drained"  // none of its non-global units is left
)

// Cordon stores machine's cordon (drain: and move its units away). A
// drain replaces a plain cordon; a plain cordon of a draining machine
// leaves the drain on (the units already moved stay moved).
func (r *Registry) Cordon(ctx context.Context, machine string, drain bool) error {
	key := cordonDir + machine
	for {
		resp, err := r.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("registry: read the cordon of %s: %w", machine, err)
		}
		var rev int64
		if len(resp.Kvs) > 0 {
			var old CordonRecord
			if json.Unmarshal(resp.Kvs[0].Value, &old) == nil && (old.Drain || !drain) {
				return nil // already as asked (or more)
			}
			rev = resp.Kvs[0].ModRevision
		}
		v, err := json.Marshal(CordonRecord{Machine: machine, Drain: drain, Since: time.Now().UTC()})
		if err != nil {
			return err
		}
		tr, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(v))).Commit()
		if err != nil {
			return fmt.Errorf("registry: cordon %s: %w", machine, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// Uncordon deletes machine's cordon (and with it an operator's drain);
// existed says whether there was one.
func (r *Registry) Uncordon(ctx context.Context, machine string) (existed bool, err error) {
	resp, err := r.cli.Delete(ctx, cordonDir+machine)
	if err != nil {
		return false, fmt.Errorf("registry: uncordon %s: %w", machine, err)
	}
	return resp.Deleted > 0, nil
}

// Cordons reads every cordon, by machine ID.
func (r *Registry) Cordons(ctx context.Context) (map[string]*CordonRecord, error) {
	resp, err := r.cli.Get(ctx, cordonDir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("registry: read cordons: %w", err)
	}
	return decodeCordons(resp.Kvs), nil
}

func decodeCordons(kvs []*mvccpb.KeyValue) map[string]*CordonRecord {
	out := map[string]*CordonRecord{}
	for _, kv := range kvs {
		id := strings.TrimPrefix(string(kv.Key), cordonDir)
		var c CordonRecord
		if json.Unmarshal(kv.Value, &c) != nil {
			// A value that does not decode still cordons (and drains:
			// the safer reading of a mark someone meant to set).
			c = CordonRecord{Drain: true}
		}
		c.Machine = id
		out[id] = &c
	}
	return out
}

// MachineStates returns the state (MachineCordoned, MachineDraining,
// MachineDrained) of every machine cordoned or draining, by machine ID; a
// machine absent from the map is MachineActive. A drain counts both the
// operator's (fleetctl drain) and the updater's pre-reboot mark. A
// draining machine is drained once none of its non-global units is placed
// there or still reported running there.
func (r *Registry) MachineStates(ctx context.Context) (map[string]string, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(cordonDir, clientv3.WithPrefix()),
		clientv3.OpGet(drainDir, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: read cordons: %w", err)
	}
	out := map[string]string{}
	for id, c := range decodeCordons(resp.Responses[0].GetResponseRange().Kvs) {
		out[id] = MachineCordoned
		if c.Drain {
			out[id] = MachineDraining
		}
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		out[strings.TrimPrefix(string(kv.Key), drainDir)] = MachineDraining
	}
	for id, st := range out {
		if st != MachineDraining {
			continue
		}
		left, err := r.DrainLeft(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(left) == 0 {
			out[id] = MachineDrained
		}
	}
	return out, nil
}

// DrainLeft lists, sorted, machine's non-global units that are still
// placed there or still reported there by its agent as not stopped: what
// a drain of it still waits for.
func (r *Registry) DrainLeft(ctx context.Context, machine string) ([]string, error) {
	resp, err := r.cli.Txn(ctx).Then(
		clientv3.OpGet(machinePlacementPrefix(machine), clientv3.WithPrefix()),
		clientv3.OpGet(stateDir+machine+"/", clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("registry: read what is left on %s: %w", machine, err)
	}
	left := map[string]bool{}
	global := map[string]bool{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		p, err := decodePlacement(kv.Value)
		if err != nil {
			continue
		}
		if IsGlobal(p.Unit, p.Options) {
			global[p.Unit] = true
			continue
		}
		left[p.Unit] = true
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var s StateRecord
		if json.Unmarshal(kv.Value, &s) != nil || global[s.Unit] {
			continue
		}
		if Running(s.State) {
			left[s.Unit] = true
		}
	}
	out := make([]string, 0, len(left))
	for name := range left {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Running reports whether a reported state is a unit not (yet) stopped.
func Running(s unit.State) bool {
	return s.Active != "" && s.Active != "inactive" && s.Active != "failed"
}

// IsGlobal reports whether a unit's [X-Fleet] section makes it global
// (false when it does not parse).
func IsGlobal(name string, opts []unit.Option) bool {
	n, err := unit.ParseName(name)
	if err != nil {
		return false
	}
	fl, err := unit.ParseFleet(n, unit.FromOptions(opts))
	return err == nil && fl.IsGlobal()
}

// WatchStates signals on events (without blocking) whenever a unit state
// changes anywhere, until ctx is done. The engine follows it while a
// machine drains: a moved unit's old copy goes once its new one runs.
func (r *Registry) WatchStates(ctx context.Context, events chan<- struct{}) {
	wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), stateDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	go func() {
		for range wch {
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
}

// MachineCounts is how many machines are registered, cordoned (a cordon
// record: fleetctl cordon or drain) and marked draining by the updater.
type MachineCounts struct{ Registered, Cordoned, Draining int }

// CountMachines reads MachineCounts with three count-only reads that are
// serializable: the local member answers from its own store, without
// raft, so a metrics scrape never waits for a leader and never writes.
// The counts may lag the cluster by the member's apply delay.
func (r *Registry) CountMachines(ctx context.Context) (MachineCounts, error) {
	var c MachineCounts
	for _, q := range []struct {
		dir string
		n   *int
	}{{machinesDir, &c.Registered}, {cordonDir, &c.Cordoned}, {drainDir, &c.Draining}} {
		resp, err := r.cli.Get(ctx, q.dir, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		if err != nil {
			return MachineCounts{}, fmt.Errorf("registry: count machines: %w", err)
		}
		*q.n = int(resp.Count)
	}
	return c, nil
}
