package initd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/u-root/u-root/pkg/mount"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/hostnet"
	"github.com/flotilla-os/flotilla/internal/image/imagehttp"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/statedisk"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// BridgeSubnet is the subnet init's manager sets the bridge up on at boot.
// fleetd then claims the node's own subnet of the cluster network and
// moves the bridge there (remote PUT /v1/network) before any unit starts;
// a fleetd that cannot leaves it here, off the cluster network.
const BridgeSubnet = "10.88.0.0/24"

// ClusterDomain is the domain bridge containers search, pointed at
// fleetd's DNS on the bridge gateway: fleetd's --dns-domain default
// (dns.DefaultDomain, not imported here to keep miekg/dns out of init).
const ClusterDomain = "flotilla"

// console is where markers and errors go: PID 1's stdout is /dev/console.
var console io.Writer = os.Stdout

func say(format string, args ...any) { fmt.Fprintf(console, format+"\n", args...) }

// readCmdline parses /proc/cmdline; debug is true when the line asks for
// the shell even if the rest does not parse.
func readCmdline() (Cmdline, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return Cmdline{}, fmt.Errorf("read /proc/cmdline: %w", err)
	}
	c, err := ParseCmdline(string(b))
	if err != nil {
		c.Debug = strings.Contains(" "+string(b)+" ", " "+node.KeyDebug+"=1 ")
	}
	return c, err
}

// stage1 runs in the initramfs: API file systems, modules, the disk, STATE
// grown, the slot's root mounted, switch_root to its /sbin/init.
func stage1() {
	if err := Create(EarlyMounts("")); err != nil {
		fatal(err, true, Reboot)
	}
	cmd, err := readCmdline()
	if err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	say("flotilla: stage1 slot=%s", cmd.Slot)
	if list, err := ReadModulesList(ModulesList); err != nil {
		say("flotilla: no module list: %v", err)
	} else {
		n := LoadModules(list, filepath.Join("/lib/modules", KernelRelease()), logf)
		say("flotilla: loaded %d of %d modules", n, len(list))
	}
	root := cmd.RootPartName()
	// Virtio disks show up at once; real disks need the storage drivers,
	// which are loaded only when the disk is not there without them.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	disk, err := statedisk.WaitDisk(ctx, statedisk.SysBlock, root, statedisk.PartState)
	cancel()
	if err != nil {
		if list, lerr := ReadModulesList(StorageModulesList); lerr == nil && len(list) > 0 {
			n := LoadModules(list, filepath.Join("/lib/modules", KernelRelease()), logf)
			say("flotilla: no boot disk yet: loaded %d storage drivers", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		disk, err = statedisk.WaitDisk(ctx, statedisk.SysBlock, root, statedisk.PartState)
		cancel()
	}
	if err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	// Nothing on the disk is mounted yet: the only moment to rewrite its GPT
	// and have the kernel reread it.
	disk = statedisk.GrowPartition(context.Background(), statedisk.SysBlock, disk, root, logf)
	rootDev := disk.Parts[root]
	if cmd.Verity.Enabled() {
		began := time.Now()
		if rootDev, err = openVerity(rootDev, cmd.Verity); err != nil {
			fatal(fmt.Errorf("dm-verity on %s: %w", root, err), cmd.Debug, Reboot)
		}
		say("flotilla: %s opened through dm-verity, root hash %s (%s)", root, cmd.Verity.RootHash[:12],
			time.Since(began).Round(time.Millisecond))
	} else {
		say("flotilla: %s has no dm-verity root hash on the command line: mounted unverified", root)
	}
	if err := Create(rootMount(rootDev)); err != nil {
		fatal(fmt.Errorf("mount %s (%s): %w", root, rootDev, err), cmd.Debug, Reboot)
	}
	say("flotilla: root mounted")
	if err := mount.SwitchRoot("/sysroot", "/sbin/init"); err != nil {
		fatal(fmt.Errorf("switch_root to %s: %w", root, err), cmd.Debug, Reboot)
	}
}

// stage2 runs on the slot's root: the rest of the boot, then PID 1's life.
func stage2() {
	say("flotilla: stage2")
	if !IsMountPoint("/proc") {
		if err := Create(EarlyMounts("")); err != nil {
			fatal(err, true, Reboot)
		}
	}
	cmd, err := readCmdline()
	if err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	if err := Create(LateMounts("")); err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	if _, err := os.Stat("/sys/firmware/efi"); err == nil {
		CreateOptional(OptionalMounts(""), logf)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	disk, err := statedisk.WaitDisk(ctx, statedisk.SysBlock, cmd.RootPartName(), statedisk.PartState)
	cancel()
	if err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	began := time.Now()
	how, err := MountState(disk.Parts[statedisk.PartState], node.VarDir)
	if err != nil {
		fatal(err, cmd.Debug, Reboot)
	}
	say("flotilla: state mounted /var %s (%s)", how, time.Since(began).Round(10*time.Millisecond))
	if esp := disk.Parts[statedisk.PartESP]; esp != "" {
		if err := Create(espMount(esp)); err != nil {
			say("flotilla: %v (the updater and the ESP config need it)", err)
		}
	}
	if _, err := SeedEntropy(filepath.Join(node.VarDir, node.RandomSeedFile)); err != nil {
		say("flotilla: entropy seed: %v", err)
	}
	n := &booted{cmd: cmd}
	if err := n.configure(); err != nil {
		// A bad config is not the slot's fault: halt, do not reboot-loop.
		fatal(err, cmd.Debug || (n.cfg != nil && n.cfg.DebugShell), Halt)
	}
	n.run()
}

// rootMount is the slot's squashfs at /sysroot, read-only.
func rootMount(dev string) []Step {
	return []Step{
		dirStep("/sysroot", 0o755),
		mountStep(dev, "/sysroot", "squashfs", unix.MS_RDONLY, ""),
	}
}

func espMount(dev string) []Step {
	return []Step{mountStep(dev, node.ESPDir, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077")}
}

// MountState formats STATE when it holds no ext4, mounts it at mnt and
// grows the file system online when the partition is larger. It returns
// "fresh", "grown" or "existing". It runs mke2fs and resize2fs from the
// root, so it must run before any supervisor (reaper) exists.
func MountState(dev, mnt string) (string, error) {
	how, err := statedisk.Prepare(statedisk.SysBlock, dev)
	if err != nil {
		return "", err
	}
	if err := Create([]Step{mountStep(dev, mnt, "ext4", unix.MS_NOATIME, "")}); err != nil {
		return "", err
	}
	if how == "grown" {
		if err := statedisk.Resize(dev); err != nil {
			say("flotilla: %v (STATE keeps its old size)", err)
			how = "existing"
		}
	}
	return how, nil
}

func logf(format string, args ...any) { say(format, args...) }

// booted is stage 2 from the config on.
type booted struct {
	cmd       Cmdline
	cfg       *bootconfig.Config
	machineID string
	hostname  string
	publicIP  string
	tls       *TLSFiles
}

// configure reads the config and applies identity, network and TLS.
func (n *booted) configure() error {
	netDone := false
	if n.cmd.ConfigURL != "" {
		// The config is behind the network: DHCP everywhere first.
		ups, err := hostnet.Setup(context.Background(), bootconfig.Network{}, logf)
		n.sayUps(ups)
		if err != nil {
			say("flotilla: network before the config: %v", err)
		}
		netDone = true
	}
	cfg, from, err := loadConfig(n.cmd)
	if err != nil {
		return err
	}
	n.cfg = cfg
	say("flotilla: config from %s", from)
	if n.machineID, err = MachineID(node.VarDir); err != nil {
		return err
	}
	n.hostname = Hostname(cfg, n.machineID)
	if err := SetHostname(n.hostname); err != nil {
		say("flotilla: %v", err)
	}
	if !netDone || len(cfg.Network.Interfaces) > 0 || len(cfg.Network.DNS) > 0 {
		ups, err := hostnet.Setup(context.Background(), cfg.Network, logf)
		n.sayUps(ups)
		if err != nil {
			return err
		}
	}
	if ip := FirstStaticIP(cfg); ip != "" {
		n.publicIP = ip
	}
	if n.tls, err = WriteTLS(node.TLSDir, cfg.TLS); err != nil {
		return err
	}
	return nil
}

func (n *booted) sayUps(ups []hostnet.NetUp) {
	for _, u := range ups {
		say("flotilla: network up %s %s", u.Iface, u.Addr)
		if n.publicIP == "" {
			n.publicIP, _, _ = strings.Cut(u.Addr, "/")
		}
	}
}

// loadConfig reads the config from its sources. A config that came from a
// source is kept on STATE (var/lib/flotilla/config.json) and used on later
// boots that find no source (a URL or fw_cfg given once); the effective
// config is always at /run/flotilla/config.json (0600) for the updater.
func loadConfig(cmd Cmdline) (*bootconfig.Config, string, error) {
	cfg, from, err := bootconfig.Load(context.Background(), bootconfig.Sources{URL: cmd.ConfigURL, ESP: node.ESPDir, Logf: logf})
	if err != nil {
		return nil, from, fmt.Errorf("boot config: %w", err)
	}
	saved := filepath.Join(node.VarDir, node.ConfigCopyFile)
	if from == bootconfig.FromDefaults {
		if data, err := os.ReadFile(saved); err == nil {
			if cfg, err = bootconfig.Parse(data, saved); err != nil {
				return nil, saved, fmt.Errorf("boot config: %w", err)
			}
			from = saved + " (saved from an earlier boot)"
		} else {
			cfg = &bootconfig.Config{}
		}
	}
	data, err := bootconfig.Marshal(cfg)
	if err != nil {
		return nil, from, err
	}
	if !strings.HasPrefix(from, saved) && from != bootconfig.FromDefaults {
		os.MkdirAll(filepath.Dir(saved), 0o700)
		if err := atomicfile.WriteFile(saved, data, 0o600); err != nil {
			say("flotilla: keep config: %v", err)
		}
	}
	os.MkdirAll(filepath.Dir(node.ConfigPath), 0o700)
	os.WriteFile(node.ConfigPath, data, 0o600)
	return cfg, from, nil
}

// run starts the unit manager and the services, then waits for the signal
// that ends the machine.
func (n *booted) run() {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	// ctrl-alt-del sends SIGINT to PID 1 instead of rebooting at once.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)

	sandboxInit := "/usr/bin/flotilla-sandbox-init"
	if _, err := os.Stat(sandboxInit); err != nil {
		sandboxInit = ""
	}
	fwd := n.startLogForward()
	mcfg := machine.Config{Dir: filepath.Join(node.VarDir, node.UnitsDataDir), MachineID: n.machineID, Hostname: n.hostname,
		BridgeSubnet: BridgeSubnet, DNSDomain: ClusterDomain, SandboxInit: sandboxInit, Logf: unitEvents(fwd),
		Forward: forwardUnits(fwd)}
	mgr, err := machine.New(mcfg)
	if err != nil {
		// Units with Network=host or none still run; bridge ones fail
		// with a message that names the missing bridge.
		say("flotilla: %v; container units get no bridge network", err)
		mcfg.BridgeSubnet = ""
		mgr, err = machine.New(mcfg)
	}
	if err != nil {
		fatal(err, n.cmd.Debug || n.cfg.DebugShell, Reboot)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := remote.Listen(node.UnitsSocket)
	if err != nil {
		mgr.Close()
		fatal(err, n.cmd.Debug || n.cfg.DebugShell, Reboot)
	}
	go func() {
		if err := remote.Serve(ctx, l, mgr, remote.ServerOptions{Logf: logf, Also: socketHandler(imagehttp.Handler(mgr.Containers), fwd)}); err != nil && ctx.Err() == nil {
			say("flotilla: unit manager socket: %v", err)
		}
	}()
	// No Logf: its events are in each service's log, which Services
	// already follows onto the console.
	sup, err := native.New(native.Config{Dir: filepath.Join(node.VarDir, node.ServicesDir), MachineID: n.machineID, Hostname: n.hostname,
		Forward: forwardServices(fwd)})
	if err != nil {
		cancel()
		mgr.Close() // the last supervisor gone, fatal's own wait4 loop is the only reaper
		fatal(err, n.cmd.Debug || n.cfg.DebugShell, Reboot)
	}
	svcs := NewServices(sup, console, DefaultBackoff, logf)
	fleetdReady := make(chan struct{})
	// Before fleetd starts, so that its READY=1 has somewhere to go.
	notify, err := ListenNotify(FleetdNotifySocket)
	if err != nil {
		say("flotilla: %v (polling fleetd's API instead)", err)
		notify = nil
	}
	n.startServices(ctx, svcs, fleetdReady, notify != nil)
	go n.afterFleetd(ctx, fleetdReady, notify)

	sig := <-sigc
	a := ActionFor(sig)
	say("flotilla: %s: %s", sig, a)
	cancel()
	if err := mgr.Close(); err != nil {
		say("flotilla: stop units: %v", err)
	}
	if err := svcs.Close(); err != nil {
		say("flotilla: stop services: %v", err)
	}
	fwd.Close() // what the units and services said last, bounded
	KillAll(5 * time.Second)
	Unmount(console, node.ESPDir, node.VarDir)
	say("flotilla: shutdown complete")
	if err := RebootNow(a); err != nil {
		say("flotilla: reboot(2): %v", err)
	}
	select {}
}

// UpdaterDelay bounds how long the updater waits for fleetd at boot. It
// starts once fleetd is ready, so the two don't share the CPU while fleetd
// and etcd come up; but a new version whose fleetd never gets ready still
// needs the updater to give up on it (HealthDeadline), so it starts anyway.
const UpdaterDelay = time.Minute

func (n *booted) startServices(ctx context.Context, svcs *Services, fleetdReady <-chan struct{}, notify bool) {
	fleetd := Service{Name: "fleetd", Argv: FleetdArgs(n.cfg, n.memberName(), node.VarDir, n.publicIP, n.tls), Console: true}
	if notify {
		fleetd.Env = []string{"NOTIFY_SOCKET=" + FleetdNotifySocket}
	}
	if err := svcs.Start(fleetd); err != nil {
		say("flotilla: %v", err)
	} else {
		say("flotilla: fleetd started")
	}
	if up, ok := UpdaterService(); ok {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-fleetdReady:
			case <-time.After(UpdaterDelay):
				say("flotilla: fleetd not ready after %s; starting the updater anyway", UpdaterDelay)
			}
			if err := svcs.Start(up); err != nil {
				say("flotilla: %v", err)
			}
		}()
	}
	os.MkdirAll("/var/log", 0o755)
	for _, name := range []string{"fleetd", "updater"} {
		link := filepath.Join("/var/log", name+".log")
		os.Remove(link)
		os.Symlink(filepath.Join(node.VarDir, node.ServicesDir, "logs", name+".service.log"), link)
	}
	if n.cmd.Debug || n.cfg.DebugShell {
		sh := Service{Name: "debug-shell", Argv: []string{SelfPath(), "console-shell", n.cmd.ConsoleDevice()}}
		if err := svcs.Start(sh); err != nil {
			say("flotilla: %v", err)
		}
	}
}

func (n *booted) memberName() string {
	if name := n.cfg.MemberName(); name != "" {
		return name
	}
	return n.hostname
}

// afterFleetd waits for fleetd (its READY=1 on notify, or its API socket
// accepting), then closes ready. fleetd submits the config's units itself
// (FleetdArgs' --submit-units).
func (n *booted) afterFleetd(ctx context.Context, ready chan<- struct{}, notify *net.UnixConn) {
	if notify != nil {
		defer os.Remove(FleetdNotifySocket)
		defer notify.Close()
	}
	if err := WaitFleetd(ctx, node.FleetdSocket, notify); err != nil {
		return
	}
	say("flotilla: fleetd ready")
	close(ready)
	go reportMemory(ctx, 30*time.Second)
}

// fatal prints err on the console and never returns: with debug, a debug
// shell respawned on the console (PID 1 reaps and answers the shutdown
// signals); without, a 10 s pause and then a: a reboot, so boot counting
// falls back to the other slot, or a halt, which waits for a person.
func fatal(err error, debug bool, a Action) {
	say("flotilla: FATAL: %v", err)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2)
	if !debug {
		if a == Halt {
			say("flotilla: halted: fix the problem above and reboot (flotilla.debug=1 gives a shell)")
			for sig := range sigc {
				endNow(ActionFor(sig))
			}
		}
		say("flotilla: %s in 10 s (flotilla.debug=1 gives a shell instead)", a)
		select {
		case sig := <-sigc:
			a = ActionFor(sig)
		case <-time.After(10 * time.Second):
		}
		endNow(a)
	}
	tty := "/dev/console"
	if c, _ := readCmdline(); c.Console != "" {
		tty = c.ConsoleDevice()
	}
	go func() { endNow(ActionFor(<-sigc)) }()
	for {
		p, err := StartShell(tty)
		if err != nil {
			say("flotilla: %v", err)
			for {
				reapAll()
				time.Sleep(time.Second)
			}
		}
		// PID 1 reaps everything; the shell's exit respawns it.
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || pid == p.Pid {
				break
			}
		}
		time.Sleep(time.Second)
	}
}

// endNow ends the machine from a fatal state: nothing is supervised.
func endNow(a Action) {
	KillAll(3 * time.Second)
	Unmount(console, node.ESPDir, node.VarDir)
	say("flotilla: shutdown complete")
	RebootNow(a)
	select {}
}

// reportMemory prints, once the node has settled after fleetd came up, the
// memory in use (MemTotal - MemAvailable): the boot benchmark reads it.
func reportMemory(ctx context.Context, settle time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(settle):
	}
	used, err := MemoryUsed("/proc/meminfo")
	if err != nil {
		say("flotilla: memory: %v", err)
		return
	}
	say("flotilla: memory used %d MiB (MemTotal - MemAvailable)", used>>20)
}

// MemoryUsed reads MemTotal - MemAvailable, in bytes, from a meminfo file.
func MemoryUsed(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var total, avail int64 = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = n << 10
		case "MemAvailable:":
			avail = n << 10
		}
	}
	if total < 0 || avail < 0 {
		return 0, fmt.Errorf("%s has no MemTotal or MemAvailable", path)
	}
	return total - avail, nil
}
