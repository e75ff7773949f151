package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// fakeSystemd models the parts of systemd's D-Bus behaviour the Manager
// relies on:
//
//   - Unit files are read from dir only on ReloadContext; starting a unit
//     whose file was not there at the last reload fails with systemd's
//     NoSuchUnit error "Unit x.service not found.", stopping one that is
//     neither loaded nor in memory with "Unit x.service not loaded.".
//   - Start jobs go activating/start, then after step active/running, or
//     failed/failed with Result exit-code 1 when the file says
//     ExecStart=/bin/false. Stop jobs go deactivating/stop-sigterm, then
//     inactive/dead, unless the file says ExecStop=/bin/sleep infinity
//     (the stop hangs until SIGKILL). Stopping a failed unit leaves it failed.
//   - SIGKILL via KillUnit fails a running unit with Result signal 9,
//     except units marked unkillable (a process stuck in D state, which
//     no stop job ends either).
//   - Inactive, dead units are dropped from memory (systemd's GC), so the
//     subscription reports them deleted (nil), as go-systemd does.
//   - Result, ExecMainStatus and MainPID exist only on the Service
//     interface; NeedDaemonReload is true when the file on disk differs
//     from the one read at the last reload.
//   - The subscription lists in-memory units every interval and sends what
//     isChanged reports (and deletions), blocking on the send, until ctx ends.
//
// It is stricter than systemd in one way: systemd loads a unit file it has
// not seen yet on first reference, the fake only on reload.
type fakeSystemd struct {
	dir  string
	step time.Duration

	mu          sync.Mutex
	files       map[string]string // unit file text as of the last reload
	units       map[string]*fakeUnit
	reloads     int
	reloadDelay time.Duration
	reloadErr   error
	unkillable  map[string]bool
	noFreezer   bool            // FreezeUnit fails as on a cgroup v1 host
	frozen      map[string]bool // units FreezeUnit froze
	resets      int
	nextPID     uint32
	nextJob     int
	closed      bool
}

type fakeUnit struct {
	active, sub, result string
	code, status        int32
	pid                 uint32
	gen                 int // bumped on every transition; stale timers check it
}

func newFake(dir string) *fakeSystemd {
	return &fakeSystemd{dir: dir, step: 20 * time.Millisecond, files: map[string]string{},
		units: map[string]*fakeUnit{}, unkillable: map[string]bool{}, frozen: map[string]bool{}, nextPID: 1000}
}

var _ Conn = (*fakeSystemd)(nil)

func busErr(name, format string, args ...any) error {
	return &godbus.Error{Name: name, Body: []any{fmt.Sprintf(format, args...)}}
}

var errConnClosed = errors.New("dbus: connection closed by user")

func (f *fakeSystemd) check(ctx context.Context) error {
	if f.closed {
		return errConnClosed
	}
	return ctx.Err()
}

func (f *fakeSystemd) Reloads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloads
}

func (f *fakeSystemd) ReloadContext(ctx context.Context) error {
	f.mu.Lock()
	delay, err := f.reloadDelay, f.reloadErr
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	f.reloads++
	files := map[string]string{}
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() || typeInterface(e.Name()) == "" && !strings.HasSuffix(e.Name(), ".target") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			return err
		}
		files[e.Name()] = string(b)
	}
	f.files = files
	return nil
}

var jobModes = map[string]bool{"replace": true, "fail": true, "isolate": true, "ignore-dependencies": true, "ignore-requirements": true, "replace-irreversibly": true}

func (f *fakeSystemd) job(mode string) (int, error) {
	if !jobModes[mode] {
		return 0, busErr("org.freedesktop.DBus.Error.InvalidArgs", "Job mode %s invalid", mode)
	}
	f.nextJob++
	return f.nextJob, nil
}

// set moves u to a state; fake.mu is held.
func (f *fakeSystemd) set(name string, u *fakeUnit, active, sub string) {
	u.active, u.sub = active, sub
	u.gen++
	if active == "inactive" {
		u.pid = 0
		delete(f.units, name) // GC
	}
}

// after runs fn under f.mu after step, unless u moved on meanwhile.
func (f *fakeSystemd) after(u *fakeUnit, fn func()) {
	gen := u.gen
	time.AfterFunc(f.step, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if u.gen == gen {
			fn()
		}
	})
}

func (f *fakeSystemd) StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return 0, err
	}
	content, ok := f.files[name]
	if !ok {
		return 0, busErr(errNoSuchUnit, "Unit %s not found.", name)
	}
	id, err := f.job(mode)
	if err != nil {
		return 0, err
	}
	u := f.units[name]
	if u == nil {
		u = &fakeUnit{active: "inactive", sub: "dead"}
		f.units[name] = u
	}
	if u.active == "active" || u.active == "activating" {
		return id, nil
	}
	f.nextPID++
	u.pid, u.result, u.code, u.status = f.nextPID, "success", 0, 0
	f.set(name, u, "activating", "start")
	f.after(u, func() {
		if strings.Contains(content, "ExecStart=/bin/false") {
			u.pid, u.result, u.code, u.status = 0, "exit-code", 1, 1
			f.set(name, u, "failed", "failed")
			return
		}
		f.set(name, u, "active", "running")
	})
	return id, nil
}

// StartExternal starts a unit as `systemctl start` would, behind the Manager's back.
func (f *fakeSystemd) StartExternal(name string) error {
	_, err := f.StartUnitContext(context.Background(), name, "replace", nil)
	return err
}

func (f *fakeSystemd) StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return 0, err
	}
	content, ok := f.files[name]
	u := f.units[name]
	if !ok && u == nil {
		return 0, busErr(errNoSuchUnit, "Unit %s not loaded.", name)
	}
	id, err := f.job(mode)
	if err != nil {
		return 0, err
	}
	if u == nil || u.active == "inactive" || u.active == "failed" || u.active == "deactivating" {
		return id, nil
	}
	f.set(name, u, "deactivating", "stop-sigterm")
	if strings.Contains(content, "ExecStop=/bin/sleep infinity") || f.unkillable[name] {
		return id, nil
	}
	f.after(u, func() {
		u.result = "success"
		f.set(name, u, "inactive", "dead")
	})
	return id, nil
}

func (f *fakeSystemd) KillUnitWithTarget(ctx context.Context, name string, target dbus.Who, signal int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return err
	}
	u := f.units[name]
	if u == nil || u.active == "inactive" || u.active == "failed" {
		return busErr("org.freedesktop.systemd1.NoSuchProcess", "No process to kill")
	}
	if f.unkillable[name] || signal != 9 || target != dbus.All {
		return nil
	}
	u.pid, u.result, u.code, u.status = 0, "signal", 2, 9
	f.set(name, u, "failed", "failed")
	return nil
}

// FreezeUnit and ThawUnit answer as systemd 246+: NotSupported without
// a cgroup v2 freezer, UnitInactive for a unit that is not running.
func (f *fakeSystemd) FreezeUnit(ctx context.Context, name string) error {
	return f.freezer(ctx, name, true)
}

func (f *fakeSystemd) ThawUnit(ctx context.Context, name string) error {
	return f.freezer(ctx, name, false)
}

func (f *fakeSystemd) freezer(ctx context.Context, name string, freeze bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return err
	}
	if f.noFreezer {
		return busErr("org.freedesktop.DBus.Error.NotSupported", "Unit '%s' does not support freezing.", name)
	}
	if u := f.units[name]; u == nil || u.active != "active" {
		return busErr("org.freedesktop.systemd1.UnitInactive", "Unit '%s' is not active.", name)
	}
	f.frozen[name] = freeze
	return nil
}

func (f *fakeSystemd) Frozen(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen[name]
}

func (f *fakeSystemd) ResetFailedUnitContext(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return err
	}
	f.resets++
	u := f.units[name]
	if u == nil {
		if _, ok := f.files[name]; !ok {
			return busErr(errNoSuchUnit, "Unit %s not loaded.", name)
		}
		return nil
	}
	if u.active == "failed" {
		u.result = "success"
		f.set(name, u, "inactive", "dead")
	}
	return nil
}

// status is systemd's view of one unit; f.mu is held.
func (f *fakeSystemd) status(name string) dbus.UnitStatus {
	st := dbus.UnitStatus{Name: name, LoadState: "not-found", ActiveState: "inactive", SubState: "dead"}
	if _, ok := f.files[name]; ok {
		st.LoadState = "loaded"
	}
	if u := f.units[name]; u != nil {
		st.ActiveState, st.SubState = u.active, u.sub
	}
	return st
}

func (f *fakeSystemd) GetUnitPropertiesContext(ctx context.Context, name string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return nil, err
	}
	st := f.status(name)
	disk, err := os.ReadFile(filepath.Join(f.dir, name))
	loaded, ok := f.files[name]
	need := (err == nil) != ok || string(disk) != loaded
	return map[string]any{"Id": name, "LoadState": st.LoadState, "ActiveState": st.ActiveState,
		"SubState": st.SubState, "NeedDaemonReload": need}, nil
}

func (f *fakeSystemd) GetUnitTypePropertiesContext(ctx context.Context, name, iface string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return nil, err
	}
	if iface != "Service" || !strings.HasSuffix(name, ".service") {
		return nil, busErr("org.freedesktop.DBus.Error.UnknownInterface", "Unknown interface org.freedesktop.systemd1.%s.", iface)
	}
	p := map[string]any{"Result": "success", "ExecMainCode": int32(0), "ExecMainStatus": int32(0), "MainPID": uint32(0)}
	if u := f.units[name]; u != nil {
		p["Result"], p["ExecMainCode"], p["ExecMainStatus"], p["MainPID"] = u.result, u.code, u.status, u.pid
	}
	return p, nil
}

func (f *fakeSystemd) ListUnitsByNamesContext(ctx context.Context, names []string) ([]dbus.UnitStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check(ctx); err != nil {
		return nil, err
	}
	out := make([]dbus.UnitStatus, 0, len(names))
	for _, n := range names {
		out = append(out, f.status(n))
	}
	return out, nil
}

// listUnits is ListUnits: the units in memory.
func (f *fakeSystemd) listUnits() ([]dbus.UnitStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errConnClosed
	}
	var out []dbus.UnitStatus
	for n := range f.units {
		out = append(out, f.status(n))
	}
	return out, nil
}

func (f *fakeSystemd) SubscribeUnitsCustomContext(ctx context.Context, interval time.Duration, buffer int,
	isChanged func(*dbus.UnitStatus, *dbus.UnitStatus) bool, filterUnit func(string) bool) (<-chan map[string]*dbus.UnitStatus, <-chan error) {
	updates := make(chan map[string]*dbus.UnitStatus, buffer)
	errs := make(chan error, buffer)
	go func() {
		defer close(updates)
		defer close(errs)
		prev := map[string]*dbus.UnitStatus{}
		for {
			tick := time.After(interval)
			if list, err := f.listUnits(); err != nil {
				errs <- err
			} else {
				now := map[string]*dbus.UnitStatus{}
				for i := range list {
					if filterUnit == nil || !filterUnit(list[i].Name) {
						now[list[i].Name] = &list[i]
					}
				}
				changed := map[string]*dbus.UnitStatus{}
				for n, s := range now {
					if p, ok := prev[n]; !ok || isChanged(p, s) {
						changed[n] = s
					}
				}
				for n := range prev {
					if now[n] == nil {
						changed[n] = nil
					}
				}
				prev = now
				if len(changed) > 0 {
					updates <- changed
				}
			}
			select {
			case <-tick:
			case <-ctx.Done():
				return
			}
		}
	}()
	return updates, errs
}

func (f *fakeSystemd) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

// unitState is the fake's view of a unit, for assertions.
func (f *fakeSystemd) unitState(name string) (active, sub string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status(name)
	return st.ActiveState, st.SubState
}
