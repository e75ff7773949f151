package engine

import (
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// fleetCache remembers parsed [X-Fleet] options by unit name and hash, so a
// reconcile parses only units that changed since the last one.
type fleetCache struct {
	m map[string]cachedFleet
}

type cachedFleet struct {
	hash  string
	fleet unit.Fleet
	err   error
}

func newFleetCache() *fleetCache { return &fleetCache{m: map[string]cachedFleet{}} }

func (c *fleetCache) parse(n unit.Name, u *registry.UnitRecord) (unit.Fleet, error) {
	if e, ok := c.m[u.Name]; ok && e.hash == u.Hash {
		return e.fleet, e.err
	}
	fl, err := ParseFleet(n, u)
	c.m[u.Name] = cachedFleet{hash: u.Hash, fleet: fl, err: err}
	return fl, err
}

// retain drops entries of units no longer stored.
func (c *fleetCache) retain(units map[string]*registry.UnitRecord) {
	for name := range c.m {
		if _, ok := units[name]; !ok {
			delete(c.m, name)
		}
	}
}
