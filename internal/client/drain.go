package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// Cordon stops new placements on a machine (full ID).
func (c *Client) Cordon(ctx context.Context, machineID string) (*schema.MachineDrain, error) {
	return c.machineDrain(ctx, http.MethodPost, machineID, "cordon")
}

// Drain cordons a machine and has the engine move its units away.
func (c *Client) Drain(ctx context.Context, machineID string) (*schema.MachineDrain, error) {
	return c.machineDrain(ctx, http.MethodPost, machineID, "drain")
}

// Uncordon lets units be placed on a machine again.
func (c *Client) Uncordon(ctx context.Context, machineID string) (*schema.MachineDrain, error) {
	return c.machineDrain(ctx, http.MethodPost, machineID, "uncordon")
}

// DrainStatus reads a machine's state and what its drain still waits for.
func (c *Client) DrainStatus(ctx context.Context, machineID string) (*schema.MachineDrain, error) {
	return c.machineDrain(ctx, http.MethodGet, machineID, "drain")
}

func (c *Client) machineDrain(ctx context.Context, method, machineID, verb string) (*schema.MachineDrain, error) {
	var out schema.MachineDrain
	if err := c.do(ctx, method, "/machines/"+url.PathEscape(machineID)+"/"+verb, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
