package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/sandbox"
)

// ErrPermanent marks a start failure that retrying cannot fix (a malformed
// image reference, an image that does not exist): the supervisor fails the
// unit at once instead of restarting it.
var ErrPermanent = errors.New("container: permanent failure")

// Config wires a Runtime.
type Config struct {
	Dir    string       // per-unit roots live under Dir/units
	Images *image.Store // where images are pulled and unpacked
	Pull   image.PullOptions
	// InitPath is the container init binary (flotilla-sandbox-init); ""
	// re-executes the running binary, which pays for all its package inits.
	InitPath string
	// InsecureRegistries may be reached over plain HTTP (host:port each).
	InsecureRegistries []string
	Network            *netbridge.Network // nil: Network=bridge is refused
	// DNSDomain, when set, gives each container on the bridge a
	// resolv.conf naming the node's DNS (fleetd, on the bridge gateway)
	// with DNSDomain in its search list; "" leaves the image's own.
	DNSDomain string
	Logf      func(format string, args ...any)
}

// Runtime prepares containers for the supervisor.
type Runtime struct {
	cfg Config

	mu     sync.Mutex
	images map[string]string // unit -> image ref, for GC
	gcs    sync.WaitGroup    // image GCs started by Destroy
}

// New returns a runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "units"), 0o700); err != nil {
		return nil, fmt.Errorf("container: %w", err)
	}
	return &Runtime{cfg: cfg, images: map[string]string{}}, nil
}

// Run is one start of one container, between Prepare and Exited.
type Run struct {
	r       *Runtime
	unit    string
	launch  *sandbox.Launch
	group   cgroups.Group
	ep      *netbridge.Endpoint
	ports   []netbridge.PortMapping
	resolv  string // the resolv.conf bound on /etc/resolv.conf; "" for none
	bridge  bool   // Network=bridge: attach a veth
	none    bool   // Network=none: only lo
	rootfs  string
	mounted bool
	anon    []string     // anonymous volumes, removed when it exits
	ss      sandbox.Spec // what the container runs with, for Exec
	pid     int          // its init, once Started
}

// Freeze stops every process of the container at once with its cgroup's
// freezer, forks and escaped sessions included; Thaw resumes them.
// cgroups.ErrNoFreezer where the host has none.
func (run *Run) Freeze() error {
	if run.group == nil {
		return cgroups.ErrNoFreezer
	}
	return run.group.Freeze()
}

// Thaw undoes Freeze.
func (run *Run) Thaw() error {
	if run.group == nil {
		return cgroups.ErrNoFreezer
	}
	return run.group.Thaw()
}

// Prepare makes everything but the process: the image (pulled if missing),
// the overlay root, the cgroup, and the sandbox launch to fork.
func (r *Runtime) Prepare(ctx context.Context, unit string, s *Spec) (_ *Run, err error) {
	img, err := r.image(ctx, s.Image)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.images[unit] = img.Ref
	r.mu.Unlock()
	run := &Run{r: r, unit: unit, bridge: s.Network == "" || s.Network == NetworkBridge, none: s.Network == NetworkNone}
	defer func() {
		if err != nil {
			run.Exited()
		}
	}()
	if run.bridge {
		if r.cfg.Network == nil {
			return nil, fmt.Errorf("%w: Network=bridge: this node has no container bridge (use Network=host or none)", ErrPermanent)
		}
		if run.ports, err = parsePorts(s.PublishPorts); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPermanent, err)
		}
	} else if len(s.PublishPorts) > 0 {
		return nil, fmt.Errorf("%w: PublishPort needs Network=bridge", ErrPermanent)
	}
	if run.rootfs, err = r.mountRoot(unit, img); err != nil {
		return nil, err
	}
	run.mounted = true
	mounts, anon, err := r.volumeMounts(unit, s)
	run.anon = anon
	if err != nil {
		return nil, err
	}
	if run.bridge && r.cfg.DNSDomain != "" && !hasMount(mounts, resolvConfPath) {
		if run.resolv, err = r.resolvFile(unit); err != nil {
			return nil, err
		}
		if err := makeResolvTarget(run.rootfs); err != nil {
			return nil, fmt.Errorf("container %s: %w", unit, err)
		}
		mounts = append(mounts, sandbox.Mount{Source: run.resolv, Target: resolvConfPath, ReadOnly: true})
	}
	// Read at each start, as podman reads --env-file at each run; a
	// missing file fails this start only.
	fileEnv, err := readEnvFiles(s)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", unit, err)
	}
	ss, allow, err := sandboxSpec(s, img, run.rootfs, mounts, fileEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	if s.UserNS {
		if err := openForUserNS(run.rootfs); err != nil {
			return nil, fmt.Errorf("container %s: %w", unit, err)
		}
	}
	res := s.Resources
	res.Devices = allow
	if run.group, err = cgroups.New("flotilla/"+unit, res); err != nil {
		return nil, fmt.Errorf("container %s: cgroup: %w", unit, err)
	}
	run.ss = ss
	if run.launch, err = sandbox.Prepare(ss); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	if r.cfg.InitPath != "" {
		run.launch.Path = r.cfg.InitPath
		if s.UserNS {
			if err := checkUserNSInit(r.cfg.InitPath); err != nil {
				return nil, fmt.Errorf("%w: container %s: %v", ErrPermanent, unit, err)
			}
		}
	}
	return run, nil
}

func parsePorts(specs []string) ([]netbridge.PortMapping, error) {
	var out []netbridge.PortMapping
	for _, p := range specs {
		ms, err := netbridge.ParsePublishPort(p)
		if err != nil {
			return nil, fmt.Errorf("PublishPort=%s: %v", p, err)
		}
		out = append(out, ms...)
	}
	return out, nil
}

// image returns the stored image, pulling it when absent.
func (r *Runtime) image(ctx context.Context, ref string) (*image.Image, error) {
	img, err := r.cfg.Images.Get(ref)
	if err == nil {
		return img, nil
	}
	if !errors.Is(err, image.ErrNotFound) {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	r.cfg.Logf("container: pulling %s", ref)
	img, err = r.cfg.Images.Pull(ctx, ref, r.pullOptions(ref))
	if err != nil {
		return nil, fmt.Errorf("%w: pull %s: %v", ErrPermanent, ref, err)
	}
	return img, nil
}

// Addr is the container's address on the node's bridge, once Started
// has attached it; "" for a container on the host's network or none.
func (run *Run) Addr() string {
	if run.ep == nil {
		return ""
	}
	return run.ep.IP.String()
}

// Launch is what the supervisor forks.
func (run *Run) Launch() *sandbox.Launch { return run.launch }

// Started finishes the set-up around the forked pid, then lets the
// container exec its entrypoint. On error the caller kills pid.
func (run *Run) Started(pid int) error {
	if err := run.launch.Started(pid); err != nil {
		return err
	}
	if err := run.group.Add(pid); err != nil {
		return fmt.Errorf("container %s: join cgroup: %w", run.unit, err)
	}
	run.pid = pid
	switch {
	case run.bridge:
		ep, err := run.r.cfg.Network.Attach(run.unit, pid, run.ports)
		if err != nil {
			return fmt.Errorf("container %s: network: %w", run.unit, err)
		}
		run.ep = ep
		if run.resolv != "" {
			if err := writeResolvConf(run.resolv, ep.Gateway.String(), run.r.cfg.DNSDomain); err != nil {
				return fmt.Errorf("container %s: %w", run.unit, err)
			}
		}
	case run.none:
		if err := netbridge.LoopbackUp(pid); err != nil {
			return fmt.Errorf("container %s: network: %w", run.unit, err)
		}
	}
	return run.launch.Release()
}

// PrepareExec returns the helper to fork for running argv inside the
// running container (its namespaces, cgroup, ids, capabilities and
// seccomp filter: see sandbox.PrepareExec); the caller forks it as it
// forked the container, then calls ExecStarted. Only between Started and
// Exited.
func (run *Run) PrepareExec(argv []string) (*sandbox.Launch, error) {
	if run.pid == 0 || run.group == nil {
		return nil, fmt.Errorf("container %s: not running", run.unit)
	}
	l, err := sandbox.PrepareExec(run.ss, run.pid, argv)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", run.unit, err)
	}
	if run.r.cfg.InitPath != "" {
		l.Path = run.r.cfg.InitPath
	}
	return l, nil
}

// ExecStarted puts the forked helper pid in the container's cgroup and
// lets it run the command; the error is the helper's setup error (a
// missing program, a container gone).
func (run *Run) ExecStarted(l *sandbox.Launch, pid int) error {
	if err := l.Started(pid); err != nil {
		return err
	}
	if err := run.group.Add(pid); err != nil {
		l.Close()
		return fmt.Errorf("container %s: exec: join cgroup: %w", run.unit, err)
	}
	return l.Release()
}

// Exited cleans up after the container's init is gone: it kills what is
// left in the cgroup, removes it, detaches the network and unmounts the
// root (the upper directory stays for the next start). It reports
// "oom-kill" when the kernel killed a process for memory.
func (run *Run) Exited() (reason string) {
	if run.launch != nil {
		run.launch.Close()
	}
	if run.group != nil {
		if oom, _ := run.group.OOMKilled(); oom {
			reason = "oom-kill"
		}
		_ = run.group.Kill()
		if err := run.group.Delete(); err != nil {
			run.r.cfg.Logf("container %s: remove cgroup: %v", run.unit, err)
		}
		run.group = nil
	}
	if run.ep != nil {
		if err := run.r.cfg.Network.Detach(run.ep); err != nil {
			run.r.cfg.Logf("container %s: detach network: %v", run.unit, err)
		}
		run.ep = nil
	}
	if run.mounted {
		if err := unmountRoot(run.rootfs); err != nil {
			run.r.cfg.Logf("container %s: %v", run.unit, err)
		}
		run.mounted = false
	}
	for _, d := range run.anon {
		if err := os.RemoveAll(d); err != nil {
			run.r.cfg.Logf("container %s: remove anonymous volume: %v", run.unit, err)
		}
	}
	run.anon = nil
	return reason
}

// Destroy removes everything the unit wrote.
func (r *Runtime) Destroy(unit string) error {
	r.mu.Lock()
	delete(r.images, unit)
	r.mu.Unlock()
	dir := r.unitDir(unit)
	_ = unmountRoot(filepath.Join(dir, "rootfs"))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("container %s: remove its files: %w", unit, err)
	}
	r.gcs.Go(func() {
		if freed, err := r.GC(); err != nil {
			r.cfg.Logf("container: image GC: %v", err)
		} else if freed > 0 {
			r.cfg.Logf("container: image GC freed %d bytes", freed)
		}
	})
	return nil
}

// WaitGC waits for the image GCs Destroy started in the background.
func (r *Runtime) WaitGC() { r.gcs.Wait() }

// PullGrace keeps an image no unit uses yet for this long after its pull,
// so that fleetctl pull ahead of a deployment is not undone by the next GC.
const PullGrace = time.Hour

// GC removes images and layers no container unit references (images
// pulled within PullGrace stay). It runs after each Destroy.
func (r *Runtime) GC() (int64, error) {
	r.mu.Lock()
	used := map[string]bool{}
	for _, ref := range r.images {
		used[ref] = true
	}
	r.mu.Unlock()
	return r.cfg.Images.GC(func(img *image.Image) bool { return used[img.Ref] || time.Since(img.Pulled) < PullGrace })
}

func (r *Runtime) unitDir(unit string) string {
	return filepath.Join(r.cfg.Dir, "units", strings.ReplaceAll(unit, "/", "_"))
}

// List lists the node's images (the API's Images).
func (r *Runtime) List() ([]*image.Image, error) { return r.cfg.Images.List() }

// Pull pulls or loads an image ahead of any unit using it.
func (r *Runtime) Pull(ctx context.Context, ref string) (*image.Image, error) {
	return r.cfg.Images.Pull(ctx, ref, r.pullOptions(ref))
}

// pullOptions allows plain HTTP for the registries named insecure.
func (r *Runtime) pullOptions(ref string) image.PullOptions {
	o := r.cfg.Pull
	for _, reg := range r.cfg.InsecureRegistries {
		if strings.HasPrefix(ref, reg+"/") {
			o.Insecure = true
		}
	}
	return o
}
