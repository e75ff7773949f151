package registry

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TxnOps bounds the operations in one transaction. etcd's default limit is
// 128; our embedded members allow 1024, external clusters may not.
const TxnOps = 128

// Change is one engine write: a placement to put or delete, or an unplaced
// reason to set or clear.
type Change struct {
	Put       *Placement // put placement/<machine>/<unit>
	DelUnit   string     // with DelMachine: delete that placement
	DelMach   string
	Unplaced  string // unit whose unplaced reason to set (Reason) or clear (Reason == "")
	Reason    string
	ClearOnly bool
	ClearMove string // unit whose move request to delete (moves.go)
}

// PlacementChange helpers.
func PutPlacement(p *Placement) Change { return Change{Put: p} }
func DeletePlacement(unitName, machine string) Change {
	return Change{DelUnit: unitName, DelMach: machine}
}
func SetUnplaced(unitName, reason string) Change { return Change{Unplaced: unitName, Reason: reason} }
func ClearUnplaced(unitName string) Change       { return Change{Unplaced: unitName, ClearOnly: true} }

func (c Change) op() (clientv3.Op, error) {
	switch {
	case c.Put != nil:
		v, err := json.Marshal(c.Put)
		if err != nil {
			return clientv3.Op{}, err
		}
		return clientv3.OpPut(placementDir+c.Put.Machine+"/"+c.Put.Unit, string(v)), nil
	case c.ClearMove != "":
		return clientv3.OpDelete(movesDir + c.ClearMove), nil
	case c.DelUnit != "":
		return clientv3.OpDelete(placementDir + c.DelMach + "/" + c.DelUnit), nil
	case c.ClearOnly:
		return clientv3.OpDelete(unplacedDir + c.Unplaced), nil
	default:
		return clientv3.OpPut(unplacedDir+c.Unplaced, c.Reason), nil
	}
}

// Apply writes changes in transactions of at most TxnOps operations, each
// guarded by guard (the engine's leadership), and returns how many
// transactions it took. A failed guard stops it with ErrNotLeader.
func (r *Registry) Apply(ctx context.Context, guard Guard, changes []Change) (txns int, err error) {
	for start := 0; start < len(changes); start += TxnOps {
		end := min(start+TxnOps, len(changes))
		ops := make([]clientv3.Op, 0, end-start)
		for _, c := range changes[start:end] {
			op, err := c.op()
			if err != nil {
				return txns, err
			}
			ops = append(ops, op)
		}
		resp, err := r.cli.Txn(ctx).If(guard).Then(ops...).Commit()
		if err != nil {
			return txns, fmt.Errorf("registry: write %d placements: %w", len(ops), err)
		}
		txns++
		if !resp.Succeeded {
			return txns, ErrNotLeader
		}
	}
	return txns, nil
}

// ErrNotLeader: the engine lost its leadership while writing.
var ErrNotLeader = fmt.Errorf("registry: engine is no longer the leader")
