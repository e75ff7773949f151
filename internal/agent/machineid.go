package agent

import (
	"context"
	"errors"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// checkMachineID refuses to start when another live machine is registered
// under this machine's ID (a cloned data directory), as fleet's agent
// learned to (coreos/fleet#615). A record of another identity gets one TTL
// and a retry interval to expire, as a crashed predecessor's lease would;
// the registration itself (ClaimMachine) guards against a machine that
// registers later. An unreadable registry is no reason to refuse.
func (a *Agent) checkMachineID(ctx context.Context) error {
	err := a.reg.CheckMachineID(ctx, a.cfg.Machine, a.cfg.TTL+a.t.Retry())
	if errors.Is(err, registry.ErrMachineIDTaken) {
		a.cfg.Logf("agent: %v", err)
		return err
	}
	if err != nil && ctx.Err() == nil {
		a.cfg.Logf("agent: check machine ID: %v", err)
	}
	return nil
}
