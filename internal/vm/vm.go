package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Firmware files from Debian's ovmf package.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// OVMFSecureCode is the Secure Boot build (it needs SMM), and
	// OVMFSnakeoilVars its variable store with Debian's snakeoil key
	// (/usr/share/ovmf/PkKek-1-snakeoil.{key,pem}, passphrase
	// "snakeoil") enrolled: the tests' stand-in for a user's key.
	OVMFSecureCode   = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	OVMFSnakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
)

// Options describe one VM.
type Options struct {
	Name string // used in log file names
	Dir  string // where the serial log, the command line and OVMF vars go
	Disk string // raw disk image, attached as virtio-blk

	// Kernel, Initrd and Append select the fast path (-kernel); empty Kernel
	// boots the disk through OVMF and systemd-boot.
	Kernel, Initrd, Append string

	MemoryMB int // default 512
	CPUs     int // default 1

	// Forwards are host loopback ports forwarded to guest TCP ports over a
	// user-mode NIC (the guest's first NIC, with MAC UserMAC).
	Forwards map[int]int
	UserMAC  string
	// NoUserNet drops the user-mode NIC.
	NoUserNet bool
	// Taps are extra NICs: opened tap devices (see Bridge.Tap).
	Taps []*Tap

	// SecureBootVars, for a UEFI boot, is a variable store with Secure
	// Boot keys enrolled (Debian's OVMFSnakeoilVars has its snakeoil key
	// as PK, KEK and db): the VM boots OVMF's Secure Boot build (SMM) with
	// a copy of it, and the firmware refuses unsigned images.
	SecureBootVars string

	// FwCfg passes files to the guest: name (opt/...) → host path.
	FwCfg map[string]string

	// Stdout, when set, also receives the serial console.
	Stdout *os.File
	// Reboots lets the guest reboot (updates); by default a reboot ends
	// QEMU like a poweroff (-no-reboot).
	Reboots bool
	// Logf, when set, receives the QEMU command line before QEMU starts
	// (tests pass t.Logf, so the line is in the test's output).
	Logf func(format string, args ...any)
}

// VM is a running QEMU.
type VM struct {
	Opts    Options
	Cmdline []string
	LogPath string

	cmd   *exec.Cmd
	stdin io.WriteCloser // the serial console's input
	done  chan struct{}
	err   error
	mu    sync.Mutex
	log   bytes.Buffer
	// arrivals[i] is when the output up to arrivals[i].end arrived.
	arrivals []arrival
	wake     chan struct{}
	start    time.Time
}

var kvmOnce = sync.OnceValue(probeKVM)

// kvm reports whether hardware acceleration works: /dev/kvm opens and a
// stopped QEMU (-S) with -accel kvm survives its first second (on some
// hosts /dev/kvm exists but QEMU aborts setting up the vCPU). The
// environment can force the answer: FLOTILLA_QEMU_ACCEL=kvm or tcg.
func kvm() bool { return kvmOnce() }

func probeKVM() bool {
	switch os.Getenv("FLOTILLA_QEMU_ACCEL") {
	case "kvm":
		return true
	case "tcg":
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	cmd := exec.Command("qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-machine", "q35",
		"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none", "-S")
	if err := cmd.Start(); err != nil {
		return false
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
		return false
	case <-time.After(1500 * time.Millisecond):
		cmd.Process.Kill()
		<-exited
		return true
	}
}

// qemuArgs builds the QEMU command line for opts (extra files for taps are
// numbered from 3 in the order of opts.Taps).
func qemuArgs(opts Options) ([]string, error) {
	if opts.MemoryMB == 0 {
		opts.MemoryMB = 512
	}
	if opts.CPUs == 0 {
		opts.CPUs = 1
	}
	args := []string{"-machine", "q35", "-m", fmt.Sprint(opts.MemoryMB), "-smp", fmt.Sprint(opts.CPUs),
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-device", "virtio-rng-pci"}
	if !opts.Reboots {
		args = append(args, "-no-reboot")
	}
	if kvm() {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		args = append(args, "-accel", "tcg", "-cpu", "max")
	}
	if opts.Disk != "" {
		args = append(args, "-drive", "file="+opts.Disk+",format=raw,if=none,id=disk0,cache=writeback",
			"-device", "virtio-blk-pci,drive=disk0")
	}
	if opts.Kernel != "" {
		args = append(args, "-kernel", opts.Kernel, "-append", opts.Append)
		if opts.Initrd != "" {
			args = append(args, "-initrd", opts.Initrd)
		}
	} else {
		code, varsTmpl := OVMFCode, OVMFVars
		if opts.SecureBootVars != "" {
			code, varsTmpl = OVMFSecureCode, opts.SecureBootVars
			args[1] = "q35,smm=on"
			args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
		}
		for _, f := range []string{code, varsTmpl} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("vm: %s missing: install Debian's ovmf (apt-get install ovmf)", f)
			}
		}
		vars := filepath.Join(opts.Dir, opts.Name+"-OVMF_VARS.fd")
		if _, err := os.Stat(vars); errors.Is(err, os.ErrNotExist) {
			b, err := os.ReadFile(varsTmpl)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(vars, b, 0o644); err != nil {
				return nil, err
			}
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	if !opts.NoUserNet {
		user := "user,id=user0"
		for host, guest := range opts.Forwards {
			user += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", host, guest)
		}
		dev := "virtio-net-pci,netdev=user0"
		if opts.UserMAC != "" {
			dev += ",mac=" + opts.UserMAC
		}
		args = append(args, "-netdev", user, "-device", dev)
	} else {
		args = append(args, "-nic", "none")
	}
	for i, tap := range opts.Taps {
		id := fmt.Sprintf("tap%d", i)
		args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,fd=%d", id, 3+i),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,mac=%s", id, tap.MAC))
	}
	for name, path := range opts.FwCfg {
		args = append(args, "-fw_cfg", "name="+name+",file="+path)
	}
	return args, nil
}

// Start boots a VM; ctx bounds its life (cancel kills QEMU).
func Start(ctx context.Context, opts Options) (*VM, error) {
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, errors.New("vm: qemu-system-x86_64 not found: install Debian's qemu-system-x86")
	}
	if opts.Name == "" {
		opts.Name = "vm"
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	args, err := qemuArgs(opts)
	if err != nil {
		return nil, err
	}
	v := &VM{Opts: opts, Cmdline: append([]string{bin}, args...), done: make(chan struct{}), wake: make(chan struct{}, 1),
		LogPath: filepath.Join(opts.Dir, opts.Name+".serial.log")}
	logFile, err := os.Create(v.LogPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "# %s\n", shellJoin(v.Cmdline))
	if opts.Logf != nil {
		opts.Logf("%s", shellJoin(v.Cmdline))
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, opts.Name+".cmdline"), []byte(shellJoin(v.Cmdline)+"\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	for _, tap := range opts.Taps {
		cmd.ExtraFiles = append(cmd.ExtraFiles, tap.File)
	}
	out := &serialWriter{vm: v, file: logFile, echo: opts.Stdout}
	cmd.Stdout, cmd.Stderr = out, out
	if v.stdin, err = cmd.StdinPipe(); err != nil {
		logFile.Close()
		return nil, err
	}
	v.cmd = cmd
	v.start = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("vm %s: %w", opts.Name, err)
	}
	go func() {
		v.err = cmd.Wait()
		logFile.Close()
		close(v.done)
		v.notify()
	}()
	return v, nil
}

// Run boots a VM and waits for QEMU to exit, as it does when the guest
// powers off (and, without Reboots, when it reboots, e.g. a kernel with
// panic=-1 that panics). It returns the VM, whose Log is the console, and
// an error naming the serial log, with the whole console, when QEMU fails
// or is still running after timeout (it is then killed).
func Run(ctx context.Context, opts Options, timeout time.Duration) (*VM, error) {
	v, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	select {
	case <-v.done:
	case <-time.After(timeout):
		v.Kill()
		return v, fmt.Errorf("vm %s: still running after %s (log %s):\n%s", v.Opts.Name, timeout, v.LogPath, v.Log())
	}
	if v.err != nil {
		return v, fmt.Errorf("vm %s: QEMU: %w after %s (log %s):\n%s", v.Opts.Name, v.err,
			time.Since(v.start).Round(time.Second), v.LogPath, v.Log())
	}
	return v, nil
}

// LogDir is where a test's VM files go (serial logs, command lines, OVMF
// variables): $FLOTILLA_VM_LOGS/<test name> when that is set, so that they
// outlive the test, else the test's temp dir. t is a testing.TB; vm does
// not import testing, since the cluster script links it too.
func LogDir(t interface {
	Name() string
	TempDir() string
}) string {
	if d := os.Getenv("FLOTILLA_VM_LOGS"); d != "" {
		return filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
	}
	return t.TempDir()
}

// Type sends s to the guest's serial console, as if typed on it.
func (v *VM) Type(s string) error {
	if _, err := io.WriteString(v.stdin, s); err != nil {
		return fmt.Errorf("vm %s: console input: %w", v.Opts.Name, err)
	}
	return nil
}

// Started is when QEMU was started.
func (v *VM) Started() time.Time { return v.start }

// Log returns the serial console so far.
func (v *VM) Log() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.log.String()
}

func (v *VM) notify() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// WaitFor waits until the serial console shows marker, and returns how long
// after QEMU's start it appeared (when its bytes arrived, not when WaitFor
// looked). It fails early when QEMU exits or when one
// of the fatal markers shows.
func (v *VM) WaitFor(ctx context.Context, marker string, timeout time.Duration, fatal ...string) (time.Duration, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		log := v.log.String()
		var at time.Time
		if i := strings.Index(log, marker); i >= 0 {
			at = v.arrivedAt(i + len(marker) - 1)
		}
		v.mu.Unlock()
		if !at.IsZero() {
			return at.Sub(v.start), nil
		}
		for _, f := range fatal {
			if strings.Contains(log, f) {
				return 0, fmt.Errorf("vm %s: console shows %q while waiting for %q (log %s):\n%s", v.Opts.Name, f, marker, v.LogPath, tail(log, 3000))
			}
		}
		select {
		case <-v.done:
			if strings.Contains(v.Log(), marker) {
				return time.Since(v.start), nil
			}
			return 0, fmt.Errorf("vm %s: QEMU exited (%v) before %q (log %s):\n%s", v.Opts.Name, v.err, marker, v.LogPath, tail(v.Log(), 3000))
		case <-deadline.C:
			return 0, fmt.Errorf("vm %s: no %q within %s (log %s):\n%s", v.Opts.Name, marker, timeout, v.LogPath, tail(log, 3000))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-v.wake:
		}
	}
}

// PID is QEMU's process ID (0 before it started).
func (v *VM) PID() int {
	if v.cmd.Process == nil {
		return 0
	}
	return v.cmd.Process.Pid
}

// Kill is a power cut: SIGKILL to QEMU, then waits for it to be gone.
func (v *VM) Kill() {
	if v.cmd.Process != nil {
		v.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-v.done
}

// Wait waits for QEMU to exit (a guest poweroff, with -no-reboot also a
// reboot) and returns its error.
func (v *VM) Wait(timeout time.Duration) error {
	select {
	case <-v.done:
		return v.err
	case <-time.After(timeout):
		return fmt.Errorf("vm %s: still running after %s", v.Opts.Name, timeout)
	}
}

// Exited reports whether QEMU has exited.
func (v *VM) Exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

type arrival struct {
	end int
	at  time.Time
}

// arrivedAt is when the byte at offset off of the log arrived.
func (v *VM) arrivedAt(off int) time.Time {
	for _, a := range v.arrivals {
		if off < a.end {
			return a.at
		}
	}
	return time.Now()
}

// serialWriter keeps the console output in memory (Log, WaitFor) and in
// the serial log file, where each line starts with the seconds since QEMU
// started ("[  12.345] "), so a slow boot can be read off the file.
type serialWriter struct {
	vm      *VM
	file    *os.File
	echo    *os.File
	midLine bool // the file's last line is not finished
}

func (w *serialWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.vm.mu.Lock()
	w.vm.log.Write(p)
	w.vm.arrivals = append(w.vm.arrivals, arrival{end: w.vm.log.Len(), at: now})
	w.vm.mu.Unlock()
	stamp := fmt.Sprintf("[%8.3f] ", now.Sub(w.vm.start).Seconds())
	var b bytes.Buffer
	for rest := p; len(rest) > 0; {
		if !w.midLine {
			b.WriteString(stamp)
		}
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		b.Write(line)
		rest = rest[len(line):]
		w.midLine = line[len(line)-1] != '\n'
	}
	w.file.Write(b.Bytes())
	if w.echo != nil {
		w.echo.Write(p)
	}
	w.vm.notify()
	return len(p), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\;&|<>*?()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
