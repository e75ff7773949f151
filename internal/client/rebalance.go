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
