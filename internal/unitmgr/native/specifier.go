package native

import (
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// expander carries what one unit's values are parsed with: its specifiers
// (unit.Specifiers, the one expander) and whether this is a submit-time
// check rather than a Load on the node that runs it.
type expander struct {
	unit.Specifiers
	// submit: parsing for Validate on whichever node took the request,
	// not on the node that will run the unit; files the unit names on
	// its own node (SeccompProfile=) are not read.
	submit bool
}

// spec returns the value of specifier letter c.
func (e *expander) spec(c byte) (string, error) { return e.Lookup(c) }

// expand resolves the specifiers in a whole value (no word splitting).
func (e *expander) expand(s string) (string, error) { return e.Expand(s) }

func newExpander(name, machineID, hostname string) *expander {
	return &expander{Specifiers: unit.Specifiers{Name: name, MachineID: machineID, Hostname: hostname}}
}

// parseContainer reads [Container] (if any) and the [Service] resource
// keys into sp.container with the one grammar (container.ParseQuadlet),
// and StopSignal= into the stop signal unless [Service] KillSignal= is
// given; warnings name Quadlet keys it ignores.
func parseContainer(name string, f *unit.File, ex *expander, sp *spec) (warnings []string, err error) {
	cs, warnings, err := container.ParseQuadlet(name, f, container.ParseOptions{Specifiers: ex.Specifiers, Submit: ex.submit})
	if err != nil {
		return nil, err
	}
	sp.container = cs
	if cs != nil && cs.StopSignal != "" && f.Values("Service", "KillSignal") == nil {
		// Quadlet's podman stops the container with --stop-signal.
		sp.killSignal = container.StopSignalNumber(cs.StopSignal)
	}
	return warnings, nil
}
