package vm

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bridge is a network namespace holding one bridge; VMs join it through taps
// created inside the namespace. Nothing touches the host's own network.
type Bridge struct {
	Netns, Name string
	// Addr is the bridge's own address inside the namespace (CIDR), so that
	// tools run in the namespace can reach the VMs.
	Addr string
	taps int
}

// NewBridge creates namespace name (replacing a leftover of that name) with
// bridge br0 at addr (e.g. 10.77.0.254/24).
func NewBridge(name, addr string) (*Bridge, error) {
	b := &Bridge{Netns: name, Name: "br0", Addr: addr}
	ip("netns", "del", name)
	for _, s := range [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "add", b.Name, "type", "bridge"},
		{"-n", name, "addr", "add", addr, "dev", b.Name},
		{"-n", name, "link", "set", b.Name, "up"},
	} {
		if out, err := ip(s...); err != nil {
			b.Close()
			return nil, fmt.Errorf("vm: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return b, nil
}

// Close deletes the namespace, its bridge and its taps.
func (b *Bridge) Close() { ip("netns", "del", b.Netns) }

// Tap is an open tap device for one QEMU NIC.
type Tap struct {
	Name string
	MAC  string
	File *os.File
}

// Tap creates a tap in the namespace, attaches it to the bridge and returns
// its open descriptor for QEMU.
func (b *Bridge) Tap(mac string) (*Tap, error) {
	b.taps++
	name := fmt.Sprintf("tap%d", b.taps)
	f, err := openTapIn(b.Netns, name)
	if err != nil {
		return nil, err
	}
	for _, s := range [][]string{
		{"-n", b.Netns, "link", "set", name, "master", b.Name},
		{"-n", b.Netns, "link", "set", name, "up"},
	} {
		if out, err := ip(s...); err != nil {
			f.Close()
			return nil, fmt.Errorf("vm: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return &Tap{Name: name, MAC: mac, File: f}, nil
}

// openTapIn opens /dev/net/tun and creates tap name while the calling thread
// sits in the namespace, then returns the thread to its own namespace.
func openTapIn(netns, name string) (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + netns)
	if err != nil {
		return nil, fmt.Errorf("vm: namespace %s: %w", netns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("vm: enter %s: %w", netns, err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("vm: cannot return to the host network namespace: " + err.Error())
		}
	}()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("vm: /dev/net/tun: %w", err)
	}
	var req [unix.IFNAMSIZ + 64]byte
	copy(req[:unix.IFNAMSIZ-1], name)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("vm: create tap %s: %w", name, e)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

func ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	return string(out), err
}
