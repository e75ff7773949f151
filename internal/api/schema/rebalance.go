package schema

// Move is one step of a rebalance: Unit leaves machine From for To.
type Move struct {
	Unit string `json:"unit"`
	From string `json:"from"`
	To   string `json:"to"`
}

// RebalancePlan is the answer of GET /fleet/v1/rebalance: the moves, to be
// made one at a time in order, that would even out the cluster now.
type RebalancePlan struct {
	Moves []Move `json:"moves"`
}
