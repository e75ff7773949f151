package fleetctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/container/quadletpath"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// readUnitFile parses the unit file at file as unit name, resolving its
// relative [Container] paths against the file's directory as Quadlet does.
func readUnitFile(name, file string) (*unit.File, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f, err := unit.Parse(name, data)
	if err != nil {
		return nil, err
	}
	_, err = quadletpath.ResolveRelativePaths(f, filepath.Dir(file))
	return f, err
}

// exists reports whether a path exists; other stat errors count as existing
// so that reading it reports them.
func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// localUnit returns the local file that defines arg: arg itself, or for an
// instance the template file next to it. nil when there is none.
func localUnit(arg string) (*unit.File, string, error) {
	name := unitNameMangle(arg)
	if exists(arg) {
		f, err := readUnitFile(name, arg)
		if err != nil {
			return nil, "", fmt.Errorf("failed getting Unit(%s) from file %s: %w", name, arg, err)
		}
		return f, arg, nil
	}
	if tmpl := templateOf(name); tmpl != "" {
		p := filepath.Join(filepath.Dir(arg), tmpl)
		if exists(p) {
			f, err := readUnitFile(name, p)
			if err != nil {
				return nil, "", fmt.Errorf("unable to load template Unit(%s) from file %s: %w", tmpl, p, err)
			}
			return f, p, nil
		}
	}
	return nil, "", nil
}

// lazyCreateUnits makes sure each argument names a unit in the cluster, in
// fleet's order: a unit of that name in the cluster; a unit file on disk; for
// an instance, its template in the cluster, then its template on disk. A unit
// in the cluster that differs from the local file is an error unless replace.
// It returns the units in argument order, without duplicates.
func (a *app) lazyCreateUnits(args []string, replace bool) ([]*schema.Unit, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var units []*schema.Unit
	seen := map[string]bool{}
	for _, arg := range args {
		arg = maybeAppendDefaultUnitType(arg)
		name := unitNameMangle(arg)
		if seen[name] {
			continue
		}
		seen[name] = true

		stored, err := c.Unit(a.ctx, name)
		if err != nil {
			return nil, err
		}
		local, from, err := localUnit(arg)
		if err != nil {
			return nil, err
		}
		if local != nil {
			for _, w := range local.Warnings {
				fmt.Fprintf(a.rt.Stderr, "Warning: %s: %s\n", from, w)
			}
		}
		if stored != nil {
			if local != nil && local.Hash() != optionsHash(stored.Options) {
				if !replace {
					return nil, fmt.Errorf("unit %s in the cluster differs from local unit file %s: add --replace to replace it, or destroy it first", name, from)
				}
				stored.Options = local.Options
				if err := c.CreateUnit(a.ctx, &schema.Unit{Name: name, Options: local.Options, DesiredState: stored.DesiredState}, true); err != nil {
					return nil, err
				}
				a.stdout("Unit %s replaced", name)
			}
			units = append(units, stored)
			continue
		}

		if local == nil || from != arg {
			// Not a file of its own: an instance of a template, which fleet
			// takes from the cluster before the disk.
			tmpl := templateOf(name)
			if tmpl == "" {
				return nil, fmt.Errorf("unable to find Unit(%s) in the cluster or on filesystem", name)
			}
			t, err := c.Unit(a.ctx, tmpl)
			if err != nil {
				return nil, err
			}
			switch {
			case t != nil:
				local = unit.FromOptions(t.Options)
			case local == nil:
				return nil, fmt.Errorf("unable to find Unit(%s) or template Unit(%s) in the cluster or on filesystem", name, tmpl)
			}
		}
		u := &schema.Unit{Name: name, Options: local.Options, DesiredState: schema.StateInactive}
		if err := c.CreateUnit(a.ctx, u, false); err != nil {
			return nil, err
		}
		a.stdout("Unit %s inactive", name)
		units = append(units, u)
	}
	return units, nil
}

// findUnits returns the units named by args that exist. It says on stderr
// which do not, and goes on with the rest, as fleet's findUnits did.
func (a *app) findUnits(args []string) ([]*schema.Unit, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var units []*schema.Unit
	var missing []string
	seen := map[string]bool{}
	for _, arg := range args {
		name := unitNameMangle(arg)
		if seen[name] {
			continue
		}
		seen[name] = true
		u, err := c.Unit(a.ctx, name)
		if err != nil {
			return nil, err
		}
		if u == nil {
			missing = append(missing, name)
			continue
		}
		units = append(units, u)
	}
	a.missingNote(missing)
	return units, nil
}

// setTargetState sets the desired state of each unit not already there.
func (a *app) setTargetState(units []*schema.Unit, state string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	for _, u := range units {
		if u.DesiredState == state {
			continue
		}
		if err := c.SetUnitTargetState(a.ctx, u.Name, state); err != nil {
			return err
		}
		u.DesiredState = state
	}
	return nil
}
