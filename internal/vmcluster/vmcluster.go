package vmcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/vm"
)

// Console markers init prints.
const (
	MarkerStage1 = "flotilla: stage1 slot="
	MarkerReady  = "flotilla: fleetd ready"
)

// Fatal markers end a wait early.
var Fatal = []string{"Kernel panic", "flotilla: FATAL", "flotilla: halted"}

// Options shared by every node.
type Options struct {
	Res *imagebuild.Result
	Out string // image-build's DIR (client bundle, fleetctl)
	// UEFI boots through OVMF and systemd-boot; false uses -kernel.
	UEFI bool
	// Grow is the size each copied disk is grown to (STATE fills it on
	// first boot); 0 keeps the image's size.
	Grow     int64
	MemoryMB int
	CPUs     int // vCPUs per VM; default 1
	// Dir holds the serial logs, QEMU command lines and OVMF variables.
	Dir string
	// DiskDir holds the disk copies (2 GiB sparse each); default Dir.
	DiskDir string
	// Ports are the host loopback ports forwarded to each node's API
	// (node k gets Ports[k-1]); missing ones are picked free.
	Ports []int
	// Stdout, when set, receives every console.
	Stdout *os.File
	// Reboots lets guests reboot (updates) instead of ending QEMU.
	Reboots bool
}

// Node is one running VM.
type Node struct {
	K    int
	Name string
	Port int // host loopback port forwarded to the node's API (7700)
	VM   *vm.VM
	Disk string // the node's own disk
	MAC  string // its user-network NIC
}

// Boot starts one node from a copy of disk.
func Boot(ctx context.Context, o Options, k int, name, disk, mac string, taps []*vm.Tap) (*Node, error) {
	copyPath, err := CopyDisk(o, name, disk)
	if err != nil {
		return nil, err
	}
	return Start(ctx, o, k, name, copyPath, mac, taps)
}

// CopyDisk copies disk (sparse) into o.Dir as <name>.img and grows it to
// o.Grow.
func CopyDisk(o Options, name, disk string) (string, error) {
	dir := o.DiskDir
	if dir == "" {
		dir = o.Dir
	}
	copyPath := filepath.Join(dir, name+".img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("cp", "--sparse=always", disk, copyPath).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy %s: %v: %s", disk, err, out)
	}
	if o.Grow > 0 {
		if err := os.Truncate(copyPath, o.Grow); err != nil {
			return "", err
		}
	}
	return copyPath, nil
}

// Start boots node k from disk as it is (a node restarted after a power
// cut keeps its disk). Its API is forwarded to o.Ports[k-1] or a free port.
func Start(ctx context.Context, o Options, k int, name, disk, mac string, taps []*vm.Tap) (*Node, error) {
	port := 0
	if k-1 < len(o.Ports) {
		port = o.Ports[k-1]
	}
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	opts := vm.Options{Name: name, Dir: o.Dir, Disk: disk, MemoryMB: o.MemoryMB, CPUs: o.CPUs, Reboots: o.Reboots,
		Forwards: map[int]int{port: imagebuild.APIPort}, UserMAC: mac, Taps: taps, Stdout: o.Stdout}
	if !o.UEFI {
		opts.Kernel, opts.Initrd, opts.Append = o.Res.Kernel, o.Res.Initramfs, o.Res.Cmdline
	}
	v, err := vm.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &Node{K: k, Name: name, Port: port, VM: v, Disk: disk, MAC: mac}, nil
}

// WaitReady waits for fleetd ready on the console and returns the time since
// QEMU started.
func (n *Node) WaitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	return n.VM.WaitFor(ctx, MarkerReady, timeout, Fatal...)
}

// Cluster is N nodes on one bridge.
type Cluster struct {
	Bridge *vm.Bridge
	Nodes  []*Node
}

// BootCluster starts the N nodes of an --nodes N build on a bridge in a new
// network namespace (root only). Node k's second NIC is on the bridge with
// the address image-build gave it.
func BootCluster(ctx context.Context, o Options, netns string) (*Cluster, error) {
	if len(o.Res.NodeDisks) < 2 {
		return nil, errors.New("vmcluster: the image was built without --nodes N (N > 1)")
	}
	br, err := vm.NewBridge(netns, "10.77.0.254/24")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bridge: br}
	if len(o.Ports) < len(o.Res.NodeDisks) {
		// All at once: ports picked one call at a time can repeat.
		if o.Ports, err = freePorts(len(o.Res.NodeDisks)); err != nil {
			br.Close()
			return nil, err
		}
	}
	for i, disk := range o.Res.NodeDisks {
		k := i + 1
		tap, err := br.Tap(imagebuild.NodeMAC(k, 1))
		if err != nil {
			c.Close()
			return nil, err
		}
		n, err := Boot(ctx, o, k, imagebuild.NodeName(k), disk, imagebuild.NodeMAC(k, 0), []*vm.Tap{tap})
		tap.File.Close() // QEMU holds its own copy
		if err != nil {
			c.Close()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c, nil
}

// Close kills every VM and removes the namespace.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.VM.Kill()
	}
	c.Bridge.Close()
}

// ForwardAPI accepts connections on l until it is closed and splices each
// to the first node whose QEMU still runs and whose forwarded API port
// answers, so that fleetctl pointed at l keeps working when one VM is
// killed. TLS passes through: the nodes' certificates name 127.0.0.1.
func (c *Cluster) ForwardAPI(l net.Listener) {
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go c.splice(conn)
		}
	}()
}

func (c *Cluster) splice(in net.Conn) {
	defer in.Close()
	for _, n := range c.Nodes {
		if n.VM.Exited() {
			continue
		}
		out, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.Port), time.Second)
		if err != nil {
			continue
		}
		defer out.Close()
		go func() {
			io.Copy(out, in)
			if tc, ok := out.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}()
		io.Copy(in, out)
		return
	}
}

// WritePIDs writes each node's QEMU process ID to dir/<name>.pid, where
// `scripts/cluster.sh kill node-K` finds it.
func (c *Cluster) WritePIDs(dir string) error {
	for _, n := range c.Nodes {
		if err := os.WriteFile(filepath.Join(dir, n.Name+".pid"), []byte(fmt.Sprintln(n.VM.PID())), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// WriteFleetctlEnv writes a shell file that points fleetctl (FLEETCTL_*
// variables, and PATH for the image's fleetctl) at the API forwarded to
// port, with the client bundle of out. Requests get 10 s, not fleet's 3:
// an emulated node (no KVM) often takes longer, as the VM tests found.
func WriteFleetctlEnv(path, out string, port int) error {
	args := FleetctlArgs(out, port)
	env := fmt.Sprintf("export FLEETCTL_ENDPOINT=%s FLEETCTL_CA_FILE=%s FLEETCTL_CERT_FILE=%s FLEETCTL_KEY_FILE=%s FLEETCTL_REQUEST_TIMEOUT=10\nexport PATH=%s:$PATH\n",
		args[1], abs(args[3]), abs(args[5]), abs(args[7]), abs(filepath.Dir(Fleetctl(out))))
	return os.WriteFile(path, []byte(env), 0o644)
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// FleetctlArgs are the flags that point the image's fleetctl at a node's
// forwarded API with the client bundle.
func FleetctlArgs(out string, port int) []string {
	return []string{
		"--endpoint", fmt.Sprintf("https://127.0.0.1:%d", port),
		"--ca-file", filepath.Join(out, "client", "ca.pem"),
		"--cert-file", filepath.Join(out, "client", "client.pem"),
		"--key-file", filepath.Join(out, "client", "client-key.pem"),
	}
}

// Fleetctl is the image's fleetctl binary (static; it runs on the host).
func Fleetctl(out string) string { return filepath.Join(out, "build", "bin", "fleetctl") }

func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct free ports on loopback, holding each until
// all are picked.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
