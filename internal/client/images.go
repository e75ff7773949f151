package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// PullTimeout bounds one pull: images can be large.
const PullTimeout = 30 * time.Minute

// Images lists the images stored on one machine.
func (c *Client) Images(ctx context.Context, machineID string) ([]*schema.Image, error) {
	var page schema.ImagePage
	if err := c.do(ctx, http.MethodGet, "/machines/"+url.PathEscape(machineID)+"/images", nil, nil, &page); err != nil {
		return nil, err
	}
	return page.Images, nil
}

// Pull pulls (or loads) ref on one machine and returns the stored image.
func (c *Client) Pull(ctx context.Context, machineID, ref string) (*schema.Image, error) {
	var img schema.Image
	err := c.doTimeout(ctx, PullTimeout, http.MethodPost, "/machines/"+url.PathEscape(machineID)+"/images", nil, schema.PullRequest{Ref: ref}, &img)
	if err != nil {
		return nil, err
	}
	return &img, nil
}
