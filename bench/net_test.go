package bench

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// BenchmarkClusterNet: TCP throughput (iperf3, 5 s, one stream) from a
// container on n1 to a container on n2, each node in its own namespace on
// one L2 segment, beside the same between the two nodes' own addresses;
// per backend. Targets (issue 10): host-gw ≥ 0.9×, vxlan ≥ 0.7×.
//
// The containers run Debian's iperf3: the host's binary and the libraries
// ldd names, copied into an image over busybox.
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench ClusterNet -benchtime 1x ./bench
func BenchmarkClusterNet(b *testing.B) {
	testenv.NeedSlow(b)
	testenv.NeedRoot(b)
	testenv.NeedCommand(b, "iperf3")
	testenv.NeedCommand(b, "nsenter")
	for _, backend := range []string{"host-gw", "vxlan"} {
		b.Run(backend, func(b *testing.B) {
			for range b.N {
				benchClusterNet(b, backend)
			}
		})
	}
}

func benchClusterNet(b *testing.B, backend string) {
	img := iperfImage(b)
	c, l2, ref := clustertest.NetCluster(b, 2, backend, map[string]v1.Image{"test/iperf:1": img})
	iperf := strings.TrimSuffix(ref, "test/busybox:1") + "test/iperf:1"

	// Node to node: the same binary in the nodes' namespaces.
	srv := exec.Command("nsenter", "--net=/run/netns/"+l2.Nodes[1].Netns, "iperf3", "-s", "-p", "5201")
	must(b, srv.Start())
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	var hostOut string
	if err := testutil.Eventually(10*time.Second, func() error {
		var err error
		hostOut, err = clustertest.In(l2.Nodes[0].Netns, "iperf3", "-c", l2.Nodes[1].IP, "-p", "5201", "-t", "5", "-f", "m")
		return err
	}); err != nil {
		b.Fatalf("iperf3 node to node: %v: %s", err, hostOut)
	}
	host := receiverMbps(b, hostOut)

	c.WriteUnit("iperfd.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/usr/bin/iperf3 -s -p 5201\n[X-Fleet]\nMachineMetadata=node=n2\n", iperf))
	c.MustFleetctl("start", "iperfd.service")
	ip := clustertest.WaitContainerIP(b, l2.Nodes[1].Netns, "iperfd.service")
	c.WriteUnit("iperf.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'until /usr/bin/iperf3 -c %s -p 5201 -t 5 -f m; do sleep 0.5; done; echo iperf-done; exec sleep 1000'\n[X-Fleet]\nMachineMetadata=node=n1\n", iperf, ip))
	c.MustFleetctl("start", "iperf.service")
	var out string
	if err := testutil.Eventually(60*time.Second, func() error {
		out, _, _ = c.Fleetctl("journal", "--lines", "60", "iperf.service")
		if !strings.Contains(out, "iperf-done") {
			return fmt.Errorf("iperf.service not done:\n%s", out)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	ctr := receiverMbps(b, out)
	b.ReportMetric(host, "host-Mbit/s")
	b.ReportMetric(ctr, "container-Mbit/s")
	b.ReportMetric(ctr/host, "ratio")
	b.Logf("%s: node to node %.0f Mbit/s, container to container %.0f Mbit/s (%.2f×)", backend, host, ctr, ctr/host)
}

var receiverRE = regexp.MustCompile(`([\d.]+) Mbits/sec\s+receiver`)

func receiverMbps(b *testing.B, out string) float64 {
	m := receiverRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		b.Fatalf("no receiver line in iperf3's output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(m[len(m)-1][1], 64)
	return v
}

// iperfImage is BusyboxAll with /usr/bin/iperf3 and the libraries ldd
// lists, at their paths on the host.
func iperfImage(b *testing.B) v1.Image {
	bin, _ := exec.LookPath("iperf3")
	bin, _ = filepath.EvalSymlinks(bin)
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		b.Fatalf("ldd %s: %v", bin, err)
	}
	files := map[string]string{"usr/bin/iperf3": bin}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files[strings.TrimPrefix(f, "/")] = f
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for dst, src := range files {
		data, err := os.ReadFile(src) // follows the library symlinks
		must(b, err)
		for d := filepath.Dir(dst); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
		must(b, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: 0o755, Size: int64(len(data))}))
		_, err = tw.Write(data)
		must(b, err)
	}
	var dl bytes.Buffer
	dw := tar.NewWriter(&dl)
	for d := range dirs {
		must(b, dw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}))
	}
	must(b, dw.Close())
	must(b, tw.Close())
	layer := func(data []byte) v1.Layer {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		must(b, err)
		return l
	}
	img, err := mutate.AppendLayers(clustertest.BusyboxAll(b), layer(dl.Bytes()), layer(buf.Bytes()))
	must(b, err)
	return img
}

func must(b testing.TB, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
