package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// StartRollout starts a rolling replace (or a rollback) and returns its
// recorded start.
func (c *Client) StartRollout(ctx context.Context, req *schema.RolloutRequest) (*schema.Rollout, error) {
	var out schema.Rollout
	if err := c.do(ctx, http.MethodPost, "/rollouts", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollouts returns every recorded rollout, by name.
func (c *Client) Rollouts(ctx context.Context) ([]*schema.Rollout, error) {
	var out schema.RolloutList
	if err := c.do(ctx, http.MethodGet, "/rollouts", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Rollouts, nil
}

// Rollout returns one rollout.
func (c *Client) Rollout(ctx context.Context, name string) (*schema.Rollout, error) {
	var out schema.Rollout
	if err := c.do(ctx, http.MethodGet, "/rollouts/"+url.PathEscape(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SteerRollout pauses, resumes or aborts (verb) a rollout.
func (c *Client) SteerRollout(ctx context.Context, name, verb string) (*schema.Rollout, error) {
	var out schema.Rollout
	if err := c.do(ctx, http.MethodPost, "/rollouts/"+url.PathEscape(name)+"/"+verb, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Revisions returns a unit's kept revisions, newest first.
func (c *Client) Revisions(ctx context.Context, name string) ([]*schema.Revision, error) {
	var out schema.RevisionList
	if err := c.do(ctx, http.MethodGet, unitPath(name)+"/revisions", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Revisions, nil
}
