package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/bootslot"
	"github.com/flotilla-os/flotilla/internal/etcdclient"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/rebootlock"
	"github.com/flotilla-os/flotilla/internal/uki"
)

// Where things are on a node.
const (
	ConfigPath    = node.ConfigPath            // the effective config init writes
	DownloadDir   = "/var/lib/flotilla/update" // on STATE
	StateFile     = "state.json"               // in DownloadDir
	FailedFile    = "failed.json"              // in DownloadDir: bootslot's failed versions
	ESPDir        = node.ESPDir
	MachineIDFile = node.MachineIDPath
	TLSDir        = node.TLSDir
	// LocalTLSDir holds the node-local CA and certificate fleetd makes for
	// a lone member without a TLS bundle (<fleetd data dir>/tls).
	LocalTLSDir = node.LocalTLSDir
	// SlotMax bounds a root download: a slot is 256 MiB.
	SlotMax = 256 << 20
)

// NodeBoot is Boot on a real node: internal/bootslot over the disk's
// ROOT-A/ROOT-B partitions and the ESP mounted at ESP.
type NodeBoot struct {
	ESP        string // ESPDir
	SysBlock   string // bootslot.SysBlock
	Cmdline    string // /proc/cmdline
	FailedPath string // DownloadDir/FailedFile
	Probe      bootslot.Probe
}

var _ Boot = (*NodeBoot)(nil)

// Booted reads flotilla.slot= from the kernel command line.
func (b *NodeBoot) Booted() (string, error) {
	data, err := os.ReadFile(b.Cmdline)
	if err != nil {
		return "", err
	}
	c, err := node.ParseCmdline(string(data))
	switch {
	case c.Slot == "A" || c.Slot == "B":
		return c.Slot, nil // another key's error is init's business
	case err != nil:
		return "", fmt.Errorf("%s: %w", b.Cmdline, err)
	}
	return "", fmt.Errorf("%s has no %s=: was this booted from a Flotilla UKI?", b.Cmdline, node.KeySlot)
}

// WriteRoot writes root into the partition of the slot not booted.
func (b *NodeBoot) WriteRoot(ctx context.Context, root string, a payload.Artifact, progress func(int64)) (string, error) {
	active, err := b.Booted()
	if err != nil {
		return "", err
	}
	slot, dev, err := bootslot.Inactive(b.SysBlock, active)
	if err != nil {
		return "", err
	}
	f, err := os.Open(root)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return slot, bootslot.WriteSlot(ctx, dev, f, a.Size, a.SHA256, progress)
}

// InstallUKI patches the UKI's slot letter (uki.ForSlot) while streaming it
// to the ESP as flotilla-<version>+3.efi, checked against the patched hash.
func (b *NodeBoot) InstallUKI(ctx context.Context, path string, a payload.Artifact, version, slot string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want, err := uki.SlotHash(f, slot)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(uki.ForSlot(f, pw, slot)) }()
	err = bootslot.InstallUKI(b.ESP, version, pr, want)
	pr.CloseWithError(errors.New("install ended"))
	return err
}

func (b *NodeBoot) booted() (bootslot.Entry, error) { return b.Probe.Booted(b.ESP) }

// Bless drops the counter of the booted entry, which must be version's.
func (b *NodeBoot) Bless(version string) error {
	e, err := b.booted()
	if err != nil {
		return err
	}
	if e.Version != version || e.Name == "" {
		return fmt.Errorf("bless %s: the booted entry is %q (version %s): not blessing another entry", version, e.Name, e.Version)
	}
	return bootslot.Bless(b.ESP, e)
}

// FailedVersions records entries systemd-boot gave up on, and lists all.
func (b *NodeBoot) FailedVersions() ([]string, error) {
	e, err := b.booted()
	if err != nil {
		return nil, err
	}
	if _, err := bootslot.DetectFallback(b.ESP, e, b.FailedPath, time.Now()); err != nil {
		return nil, err
	}
	fs, err := bootslot.LoadFailed(b.FailedPath)
	var vs []string
	for _, f := range fs {
		vs = append(vs, f.Version)
	}
	return vs, err
}

// Cleanup keeps the booted entry and at most one more version of keep.
func (b *NodeBoot) Cleanup(keep ...string) error {
	e, err := b.booted()
	if err != nil {
		return err
	}
	var other []string
	for _, k := range keep {
		if k != "" && k != e.Version {
			other = append(other, k)
		}
	}
	if len(other) > 1 {
		other = other[:1]
	}
	_, err = bootslot.Cleanup(b.ESP, e, other...)
	return err
}

// NodeCluster is Cluster over etcd: internal/rebootlock.
type NodeCluster struct {
	Cli     *clientv3.Client
	Machine string // fleet machine ID
	Member  string // etcd member name; "" on a client node
}

var _ Cluster = (*NodeCluster)(nil)

func (c *NodeCluster) CanReboot(ctx context.Context) error {
	return rebootlock.CanReboot(ctx, c.Cli, c.Member)
}
func (c *NodeCluster) Acquire(ctx context.Context) (bool, error) {
	return rebootlock.Acquire(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Held(ctx context.Context) (bool, error) {
	return rebootlock.Held(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Refresh(ctx context.Context) error {
	return rebootlock.Refresh(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Release(ctx context.Context) error {
	return rebootlock.Release(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Drain(ctx context.Context) error {
	return rebootlock.Drain(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Undrain(ctx context.Context) error {
	return rebootlock.Undrain(ctx, c.Cli, c.Machine)
}
func (c *NodeCluster) Healthy(ctx context.Context) error {
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return rebootlock.Healthy(hctx, c.Cli, rebootlock.HealthCheck{Machine: c.Machine, Member: c.Member})
}
func (c *NodeCluster) SetStatus(ctx context.Context, state string) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rebootlock.SetStatus(sctx, c.Cli, c.Machine, state)
}

// Node is what a node's config says about updates and the cluster.
type Node struct {
	Config  *bootconfig.Config
	Machine string
	Member  string
}

// LoadNode reads the effective config (ConfigPath) and the machine ID.
func LoadNode(configPath, machineIDPath string) (*Node, error) {
	data, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("%w: init writes the effective config there at boot", err)
	}
	cfg, err := bootconfig.Parse(data, configPath)
	if err != nil {
		return nil, err
	}
	id, err := os.ReadFile(machineIDPath)
	if err != nil {
		return nil, fmt.Errorf("machine ID: %w", err)
	}
	n := &Node{Config: cfg, Machine: strings.TrimSpace(string(id))}
	if cfg.IsMember() {
		if n.Member = cfg.MemberName(); n.Member == "" {
			n.Member, _ = os.Hostname()
		}
	}
	return n, nil
}

// Etcd dials the cluster's etcd as fleetd does.
func (n *Node) Etcd() (*clientv3.Client, error) {
	eps, t := etcdTarget(n.Config)
	return rebootlock.Dial(eps, t)
}

// etcdTarget is where fleetd's etcd is and the certificate to reach it
// with: always mutual TLS, with the config's bundle or, on a lone member
// without one, the node-local certificates fleetd made.
func etcdTarget(cfg *bootconfig.Config) ([]string, etcdclient.TLS) {
	c := cfg.Cluster
	eps := c.Endpoints
	if cfg.IsMember() {
		eps = []string{c.ClientURL}
		if c.ClientURL == "" {
			eps = []string{node.EtcdClientURL}
		}
	}
	dir := TLSDir
	if cfg.TLS == nil {
		dir = LocalTLSDir
	}
	return eps, etcdclient.TLS{CertFile: filepath.Join(dir, node.TLSCertFile), KeyFile: filepath.Join(dir, node.TLSKeyFile), CAFile: filepath.Join(dir, node.TLSCAFile)}
}

// Fetcher is the node's fetcher from update.url, update.public_key and
// update.channel; an error when the config has no update section.
func (n *Node) Fetcher(dir string) (*payload.Fetcher, error) {
	u := n.Config.Update
	if u == nil {
		return nil, errors.New("the config has no update section: give update.url and update.public_key (image-build --update-url, --signing-key)")
	}
	pub, err := payload.ParsePublicKey(u.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("update.public_key: %w", err)
	}
	return &payload.Fetcher{URL: u.URL, PublicKey: pub, Channel: n.Config.UpdateChannel(), Dir: dir, MaxSize: SlotMax}, nil
}
