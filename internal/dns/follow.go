package dns

import (
	"context"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// Follow keeps set fed with the view of every endpoint in the registry:
// one read, then a watch; each batch of changes builds a new view. When
// the watch fails (etcd lost its leader, compaction) it reads again after
// retry. It returns when ctx is done. Between a failure and the next read
// the last view keeps answering.
func Follow(ctx context.Context, reg *registry.Registry, opts Options, set func(*View), retry time.Duration, logf func(string, ...any)) {
	for ctx.Err() == nil {
		eps, rev, err := reg.Endpoints(ctx)
		if err == nil {
			set(NewView(opts, eps))
			err = reg.WatchEndpoints(ctx, rev+1, func(evs []registry.EndpointEvent) {
				for _, ev := range evs {
					if ev.Endpoint == nil {
						delete(eps, ev.Key)
					} else {
						eps[ev.Key] = ev.Endpoint
					}
				}
				set(NewView(opts, eps))
			})
		}
		if ctx.Err() != nil {
			return
		}
		logf("dns: %v; reading endpoints again", err)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}
