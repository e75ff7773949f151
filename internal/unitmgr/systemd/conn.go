package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// Conn is the subset of go-systemd's *dbus.Conn this backend uses. The
// Manager owns it: Manager.Close closes it.
//
// The subscription is the Context variant so that Close can end go-systemd's
// polling goroutine (SubscribeUnitsCustom runs it until the process exits).
// Result, ExecMainStatus and MainPID live on the unit's type interface
// (org.freedesktop.systemd1.Service), hence GetUnitTypePropertiesContext.
type Conn interface {
	ReloadContext(ctx context.Context) error
	StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	KillUnitWithTarget(ctx context.Context, name string, target dbus.Who, signal int32) error
	ResetFailedUnitContext(ctx context.Context, name string) error
	FreezeUnit(ctx context.Context, unit string) error
	ThawUnit(ctx context.Context, unit string) error
	GetUnitPropertiesContext(ctx context.Context, unit string) (map[string]any, error)
	GetUnitTypePropertiesContext(ctx context.Context, unit, unitType string) (map[string]any, error)
	ListUnitsByNamesContext(ctx context.Context, units []string) ([]dbus.UnitStatus, error)
	SubscribeUnitsCustomContext(ctx context.Context, interval time.Duration, buffer int,
		isChanged func(*dbus.UnitStatus, *dbus.UnitStatus) bool,
		filterUnit func(string) bool) (<-chan map[string]*dbus.UnitStatus, <-chan error)
	Close()
}

var _ Conn = (*dbus.Conn)(nil)

// ErrNoSystemd is returned by Dial on hosts whose PID 1 is not systemd.
var ErrNoSystemd = errors.New("systemdmgr: systemd is not PID 1 on this host (no /run/systemd/system); use the native supervisor backend")

// bootedDir exists iff PID 1 is systemd; it is sd_booted(3)'s test.
const bootedDir = "/run/systemd/system"

// Available reports whether PID 1 is systemd, as sd_booted(3) decides it:
// /run/systemd/system exists and is a directory.
func Available() bool {
	fi, err := os.Lstat(bootedDir)
	return err == nil && fi.IsDir()
}

// Dial connects to systemd over the system bus (or, as root, its private
// socket /run/systemd/private when no dbus-daemon runs) and returns a
// Manager over that connection.
func Dial(ctx context.Context, cfg Config) (*Manager, error) {
	if !Available() {
		return nil, ErrNoSystemd
	}
	conn, err := dbus.NewSystemConnectionContext(ctx)
	if err != nil && os.Geteuid() == 0 {
		var err2 error
		if conn, err2 = dbus.NewSystemdConnectionContext(ctx); err2 == nil {
			err = nil
		} else {
			err = fmt.Errorf("%w; /run/systemd/private: %v", err, err2)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("systemdmgr: connect to systemd over the system bus: %w (is dbus running? as root the private socket is tried too)", err)
	}
	m, err := New(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return m, nil
}

// D-Bus errors of systemd: NoSuchUnit is "Unit x not loaded." and
// "Unit x not found."; NoSuchProcess is "No process to kill"; UnitInactive
// is Freeze's and Thaw's answer for a unit that is not active.
const (
	errNoSuchUnit    = "org.freedesktop.systemd1.NoSuchUnit"
	errNoSuchProcess = "org.freedesktop.systemd1.NoSuchProcess"
	errUnitInactive  = "org.freedesktop.systemd1.UnitInactive"
)

func isNoSuchUnit(err error) bool { return isBusError(err, errNoSuchUnit) }

// isBusError reports whether err is the D-Bus error called name.
func isBusError(err error, name string) bool {
	var de godbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dp *godbus.Error
	return errors.As(err, &dp) && dp.Name == name
}
