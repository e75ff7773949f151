package kernel

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeRoot writes a root with the given kernels; files maps a path under
// lib/modules/<kver>/ to its contents, the same for every kernel.
func fakeRoot(t *testing.T, kvers []string, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, kv := range kvers {
		write(t, filepath.Join(root, "boot", "vmlinuz-"+kv), "bzImage")
		for name, body := range files {
			write(t, filepath.Join(root, "lib", "modules", kv, name), body)
		}
	}
	return root
}

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindNewest(t *testing.T) {
	root := fakeRoot(t, []string{"6.1.0-9-amd64", "6.1.0-56-amd64", "6.1.0-10-amd64"}, map[string]string{"modules.dep": ""})
	// A newer kernel without modules (the host's, say) does not count.
	write(t, filepath.Join(root, "boot", "vmlinuz-6.18.0-1-amd64"), "bzImage")
	k, err := Find(root)
	if err != nil {
		t.Fatal(err)
	}
	want := Kernel{
		Version:    "6.1.0-56-amd64",
		Image:      filepath.Join(root, "boot/vmlinuz-6.1.0-56-amd64"),
		ModulesDir: filepath.Join(root, "lib/modules/6.1.0-56-amd64"),
	}
	if *k != want {
		t.Fatalf("Find = %+v, want %+v", *k, want)
	}
}

func TestFindNone(t *testing.T) {
	_, err := Find(t.TempDir())
	if !errors.Is(err, ErrNoKernel) || !strings.Contains(err.Error(), "apt-get install linux-image-amd64") {
		t.Fatalf("Find(empty) = %v, want ErrNoKernel telling what to install", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int // sign
	}{
		{"6.1.0-9-amd64", "6.1.0-56-amd64", -1},
		{"6.10.0-1-amd64", "6.9.0-1-amd64", 1},
		{"6.1.0-56-amd64", "6.1.0-56-amd64", 0},
		{"6.1.0-56-amd64", "6.1.0-56-cloud-amd64", -1},
		{"6.1", "6.1.0", -1},
	} {
		got := compareVersions(tc.a, tc.b)
		if (got < 0) != (tc.want < 0) || (got > 0) != (tc.want > 0) {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tc.a, tc.b, got, tc.want)
		}
	}
}

var fakeModules = map[string]string{
	// modules.dep lists the transitive set, deepest last, like depmod.
	"modules.dep": `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/net/netfilter/nft_masq.ko.xz: kernel/net/netfilter/nf_tables.ko
kernel/net/netfilter/nf_tables.ko:
`,
	"modules.builtin": "kernel/net/unix/unix.ko\nkernel/net/packet/af_packet.ko\n",
	"modules.softdep": "# Soft dependencies\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\nsoftdep nf_tables pre: nosuch\n",
	"modules.alias":   "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\nalias pci:v00001AF4d* virtio_pci\n",
}

func TestClosure(t *testing.T) {
	k, err := Find(fakeRoot(t, []string{"6.1.0-1-amd64"}, fakeModules))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"virtio-rng"}, []string{"virtio_ring", "virtio", "virtio_rng"}},
		{[]string{"virtio_rng", "virtio"}, []string{"virtio_ring", "virtio", "virtio_rng"}},
		{[]string{"ext4"}, []string{"crc32c_intel", "crc32c_generic", "jbd2", "mbcache", "crc16", "ext4"}},
		{[]string{"unix", "nft-masq", "af_packet"}, []string{"nf_tables", "nft_masq"}},
	} {
		mods, err := k.Closure(tc.names...)
		if err != nil {
			t.Fatalf("Closure(%v): %v", tc.names, err)
		}
		var got []string
		for _, m := range mods {
			got = append(got, m.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Closure(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
	mods, _ := k.Closure("nft_masq")
	if mods[1].Path != "kernel/net/netfilter/nft_masq.ko.xz" {
		t.Errorf("nft_masq path = %q", mods[1].Path)
	}
}

func TestClosureUnknown(t *testing.T) {
	k, err := Find(fakeRoot(t, []string{"6.1.0-1-amd64"}, fakeModules))
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Closure("ext4", "no_such_thing", "unix")
	if err == nil || !strings.Contains(err.Error(), "no_such_thing") {
		t.Fatalf("Closure(unknown) = %v, want an error naming no_such_thing", err)
	}
}

func TestClosureMissingDep(t *testing.T) {
	files := map[string]string{"modules.dep": "kernel/a.ko: kernel/b.ko\n"}
	k, err := Find(fakeRoot(t, []string{"6.1.0-1-amd64"}, files))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Closure("a"); err == nil || !strings.Contains(err.Error(), "depmod") {
		t.Fatalf("Closure with a dangling dep = %v, want an error saying to run depmod", err)
	}
}

// TestBootModulesInstalled checks BootModules against the Debian kernel
// installed on this machine: every name resolves, every file exists, and
// every module comes after everything modules.dep says it needs.
func TestBootModulesInstalled(t *testing.T) {
	k, err := Find("/")
	if errors.Is(err, ErrNoKernel) {
		t.Skip("needs Debian's linux-image-amd64 installed (the setup script installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	mods, err := k.Closure(BootModules...)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := k.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		if _, dup := pos[m.Name]; dup {
			t.Errorf("%s listed twice", m.Name)
		}
		pos[m.Name] = i
		if _, err := os.Stat(filepath.Join(k.ModulesDir, m.Path)); err != nil {
			t.Error(err)
		}
		for _, d := range ix.deps[m.Name] {
			if j, ok := pos[d]; !ok || j > i {
				t.Errorf("%s at %d comes before its dependency %s", m.Name, i, d)
			}
		}
	}
	for _, n := range BootModules {
		if _, ok := pos[ModuleName(n)]; !ok && !ix.builtin[ModuleName(n)] {
			t.Errorf("%s missing from the closure", n)
		}
	}
	t.Logf("kernel %s: %d modules for %d names", k.Version, len(mods), len(BootModules))
}
