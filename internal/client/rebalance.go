package client

import (
	"context"
	"net/http"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// RebalancePlan asks for the moves that would even out the cluster now.
func (c *Client) RebalancePlan(ctx context.Context) (*schema.RebalancePlan, error) {
	var p schema.RebalancePlan
	if err := c.do(ctx, http.MethodGet, "/rebalance", nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// RequestMove asks the engine to move one unit from one machine to
// another, as a drain moves it (a step of fleetctl rebalance).
func (c *Client) RequestMove(ctx context.Context, mv schema.Move) error {
	return c.do(ctx, http.MethodPost, "/rebalance/moves", nil, mv, nil)
}
