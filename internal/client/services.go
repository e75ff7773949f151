package client

import (
	"context"
	"encoding/json"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// Services lists every endpoint of an active unit (GET /fleet/v1/services).
func (c *Client) Services(ctx context.Context) ([]*schema.Service, error) {
	var all []*schema.Service
	err := c.pages(ctx, "/services", nil, func(body []byte) (string, error) {
		var p schema.ServicePage
		if err := json.Unmarshal(body, &p); err != nil {
			return "", err
		}
		all = append(all, p.Services...)
		return p.NextPageToken, nil
	})
	return all, err
}
