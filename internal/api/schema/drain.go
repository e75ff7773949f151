package schema

// MachineDrain answers the cordon, drain and uncordon endpoints
// (POST /fleet/v1/machines/{id}/cordon|drain|uncordon) and
// GET /fleet/v1/machines/{id}/drain: the machine's state ("" active,
// cordoned, draining, drained) and, while it drains, the non-global units
// still placed or running there.
type MachineDrain struct {
	Machine string   `json:"machine"`
	State   string   `json:"state"`
	Left    []string `json:"left,omitempty"`
}
