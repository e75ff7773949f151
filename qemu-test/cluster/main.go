// Command cluster builds the OS with three nodes, boots them under QEMU on a
// bridge inside a network namespace, and keeps them running until SIGTERM or
// SIGINT. scripts/cluster.sh runs it in the background and points fleetctl
// at the cluster.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

func main() {
	out := flag.String("out", "out", "image-build output directory")
	nodes := flag.Int("nodes", 3, "cluster size (the first three are etcd members)")
	version := flag.String("version", "1.0.0", "OS version to build")
	uefi := flag.Bool("uefi", true, "boot through OVMF and systemd-boot (false: -kernel, faster)")
	basePort := flag.Int("port", 7701, "node K's API is forwarded to 127.0.0.1:port+K-1, and port-1 to the first live node")
	memMB := flag.Int("memory", 512, "MiB of RAM per VM")
	flag.Parse()
	if err := run(*out, *nodes, *version, *uefi, *basePort, *memMB); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(out string, nodes int, version string, uefi bool, basePort, memMB int) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it creates a network namespace with a bridge and taps")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	os.Remove(filepath.Join(out, "cluster.ready"))
	// The busybox image units/web@.service runs, as the VM tests bake it.
	archive := filepath.Join(out, "busybox.tar")
	if err := clustertest.WriteBusyboxArchive(archive); err != nil {
		return err
	}
	res, err := imagebuild.Build(ctx, imagebuild.Options{Out: out, Version: version, Nodes: nodes,
		Images: []string{archive}, SourceDateEpoch: epoch(), Logf: logf})
	if err != nil {
		return err
	}
	var ports []int
	for k := 0; k < nodes; k++ {
		ports = append(ports, basePort+k)
	}
	o := vmcluster.Options{Res: res, Out: out, UEFI: uefi, Grow: 4 << 30, MemoryMB: memMB,
		Dir: filepath.Join(out, "vms"), Ports: ports}
	logf("booting %d nodes (%s); serial logs in %s", nodes, map[bool]string{true: "UEFI", false: "-kernel"}[uefi], o.Dir)
	c, err := vmcluster.BootCluster(ctx, o, "flotilla-cluster")
	if err != nil {
		return err
	}
	defer c.Close()
	for _, n := range c.Nodes {
		d, err := n.WaitReady(ctx, 6*time.Minute)
		if err != nil {
			return err
		}
		logf("%s ready after %.0f s; API on 127.0.0.1:%d", n.Name, d.Seconds(), n.Port)
	}
	if err := c.WritePIDs(o.Dir); err != nil {
		return err
	}
	args := vmcluster.FleetctlArgs(out, c.Nodes[0].Port)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		b, err := exec.Command(vmcluster.Fleetctl(out), append(args, "list-machines", "--no-legend")...).Output()
		if err == nil && len(strings.Split(strings.TrimSpace(string(b)), "\n")) == nodes {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("list-machines did not show %d machines within 2 minutes: %v %s", nodes, err, b)
		}
		time.Sleep(time.Second)
	}
	// fleetctl.env points at a forwarder to the first live node, so that
	// `scripts/cluster.sh kill` of any node leaves fleetctl working.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", basePort-1))
	if err != nil {
		return fmt.Errorf("API forwarder: %w", err)
	}
	defer l.Close()
	c.ForwardAPI(l)
	if err := vmcluster.WriteFleetctlEnv(filepath.Join(out, "fleetctl.env"), out, basePort-1); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "cluster.ready"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	logf("cluster up; `source %s/fleetctl.env` and use fleetctl", out)
	<-ctx.Done()
	logf("stopping the cluster")
	return nil
}

func epoch() int64 {
	if n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return n
	}
	return 1700000000
}
