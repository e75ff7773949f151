package bench

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// The crun/runc side of BenchmarkContainerStart. Debian's crun 1.8.1
// refuses hybrid cgroups, so (as PEERS.md measured) both runtimes run from
// a helper — this test binary re-exec'd — inside
//
//	unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec helper'
//
// which leaves the host's own mounts untouched. The helper times each
// `<runtime> run --bundle B id` as a whole command and prints the times as
// JSON. It runs before any Supervisor exists: the supervisor's reaper takes
// every child's exit status in its process.

const ociHelperEnv = "FLOTILLA_BENCH_OCI_HELPER"

type ociJob struct {
	Runs     int               `json:"runs"`
	Bundles  map[string]string `json:"bundles"`  // runtime name -> bundle dir
	Binaries map[string]string `json:"binaries"` // runtime name -> path
	Busybox  string            `json:"busybox"`  // the rootfs's busybox, for the plain-exec baseline
}

type ociResult struct {
	Times map[string][]time.Duration `json:"times"`
	Err   string                     `json:"err,omitempty"`
}

type ociFigure struct {
	name  string
	times []time.Duration
	skip  string
}

// ociHelperIfRequested runs the timing helper when the environment asks
// for it, and exits.
func ociHelperIfRequested() {
	spec := os.Getenv(ociHelperEnv)
	if spec == "" {
		return
	}
	var job ociJob
	res := ociResult{Times: map[string][]time.Duration{}}
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		res.Err = err.Error()
	} else if err := ociHelper(job, &res); err != nil {
		res.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

func ociHelper(job ociJob, res *ociResult) error {
	names := make([]string, 0, len(job.Bundles))
	for n := range job.Bundles {
		names = append(names, n)
	}
	slices.Sort(names)
	run := func(name string, i int) (time.Duration, error) {
		var cmd *exec.Cmd
		if name == "exec-true" {
			cmd = exec.Command(job.Busybox, "true")
		} else {
			id := fmt.Sprintf("flotilla-bench-%s-%d-%d", name, os.Getpid(), i)
			cmd = exec.Command(job.Binaries[name], "run", "--bundle", job.Bundles[name], id)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(out.String()))
		}
		return d, nil
	}
	all := append([]string{"exec-true"}, names...)
	// One warm-up each, then the runs interleaved so that drift on the
	// machine affects every runtime alike.
	for i := 0; i <= job.Runs; i++ {
		for _, n := range all {
			d, err := run(n, i)
			if err != nil {
				return err
			}
			if i > 0 {
				res.Times[n] = append(res.Times[n], d)
			}
		}
	}
	return nil
}

// ociCompare builds crun and runc bundles from img's rootfs under dir and
// times `run` of /bin/true in each, runs times after a warm-up. Runtimes
// that are missing are reported with a skip reason.
func ociCompare(b *testing.B, img v1.Image, dir string, runs int) []ociFigure {
	b.Helper()
	root := filepath.Join(dir, "oci", "rootfs")
	if err := ctUntar(mutate.Extract(img), root); err != nil {
		b.Fatalf("oci rootfs: %v", err)
	}
	job := ociJob{Runs: runs, Bundles: map[string]string{}, Binaries: map[string]string{}, Busybox: filepath.Join(root, "bin", "busybox")}
	var figs []ociFigure
	for _, rt := range []string{"crun", "runc"} {
		path, err := exec.LookPath(rt)
		if err != nil {
			figs = append(figs, ociFigure{name: rt, skip: fmt.Sprintf("%s is not installed (apt-get install -y crun runc): %v", rt, err)})
			continue
		}
		bundle := filepath.Join(dir, "oci", rt)
		if err := ociBundle(path, bundle, root); err != nil {
			figs = append(figs, ociFigure{name: rt, skip: err.Error()})
			continue
		}
		job.Bundles[rt], job.Binaries[rt] = bundle, path
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		b.Logf("crun/runc: skipped: no unshare(1): %v", err)
		return figs
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	spec, _ := json.Marshal(job)
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`umount /sys/fs/cgroup/unified || true; exec "$0"`, self)
	cmd.Env = append(os.Environ(), ociHelperEnv+"="+string(spec))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res ociResult
	if jerr := json.Unmarshal(out, &res); err != nil || jerr != nil {
		b.Fatalf("crun/runc helper: %v %v: %s %s", err, jerr, out, stderr.String())
	}
	if res.Err != "" {
		b.Fatalf("crun/runc helper: %s", res.Err)
	}
	for _, n := range []string{"crun", "runc", "exec-true"} {
		if t, ok := res.Times[n]; ok {
			figs = append(figs, ociFigure{name: n, times: t})
		}
	}
	return figs
}

// ociBundle writes bundle/config.json from `<rt> spec`: /bin/true, no
// terminal, the shared read-only rootfs, pid, net, ipc, uts and mount
// namespaces.
func ociBundle(rt, bundle, rootfs string) error {
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(rt, "spec")
	cmd.Dir = bundle
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %v: %s", rt, err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%s spec: %v", rt, err)
	}
	proc, _ := cfg["process"].(map[string]any)
	linux, _ := cfg["linux"].(map[string]any)
	if proc == nil || linux == nil {
		return fmt.Errorf("%s spec: no process or linux section", rt)
	}
	proc["args"] = []string{"/bin/true"}
	proc["terminal"] = false
	cfg["root"] = map[string]any{"path": rootfs, "readonly": true}
	var ns []map[string]string
	for _, t := range []string{"pid", "network", "ipc", "uts", "mount"} {
		ns = append(ns, map[string]string{"type": t})
	}
	linux["namespaces"] = ns
	data, err = json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(cfgPath, data, 0o644)
}

// ctUntar unpacks a flattened image filesystem (directories, regular
// files, symlinks and hard links) into dir.
func ctUntar(r io.ReadCloser, dir string) error {
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm|modeExtra(h.Mode)); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), p); err != nil {
				return err
			}
		}
	}
}

func modeExtra(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// ctPct is the p-th percentile (nearest rank) of ds; 100 is the max.
func ctPct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}
