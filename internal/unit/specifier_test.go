package unit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpecifiersExpand(t *testing.T) {
	host := &Host{
		BootID: "b0", KernelRelease: "6.1.0", Arch: "x86-64", PrettyHostname: "Node One",
		OSRelease: map[string]string{"ID": "flotilla", "VERSION_ID": "1.2", "BUILD_ID": "b7", "VARIANT_ID": "edge", "IMAGE_ID": "img", "IMAGE_VERSION": "9"},
	}
	sp := Specifiers{Name: "my-web@a-b\\x2dc.service", MachineID: "m1", Hostname: "node1.example.org", Host: host}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "%n %N %p %i", want: "my-web@a-b\\x2dc.service my-web@a-b\\x2dc my-web a-b\\x2dc"},
		{in: "/%I/ %P %f", want: "/a/b-c/ my/web /a/b-c"},
		{in: "%j %J", want: "web web"},
		{in: "%m@%H %l %q 100%%", want: "m1@node1.example.org node1 Node One 100%"},
		{in: "%b %v %a", want: "b0 6.1.0 x86-64"},
		{in: "%o %w %B %W %M %A", want: "flotilla 1.2 b7 edge img 9"},
		{in: "%u %U %g %G %h %s", want: "root 0 root 0 /root /bin/sh"},
		{in: "%t %S %C %L %E %T %V %D", want: "/run /var/lib /var/cache /var/log /etc /tmp /var/tmp /usr/share"},
		{in: "%d", want: "/run/credentials/my-web@a-b\\x2dc.service"},
		// specifier_printf keeps a % before a character that cannot be a
		// specifier, and a trailing one.
		{in: "%{http_code} %, %- %/ 50% %", want: "%{http_code} %, %- %/ 50% %"},
		{in: "%%{x} %%%", want: "%{x} %%"},
		{in: "%Z", err: "unsupported specifier %Z"},
		{in: "%0", err: "unsupported specifier %0"},
		{in: "%c %r", err: "specifier %c (a cgroup path, deprecated in systemd) has no meaning here"},
		{in: "%y", err: "no meaning here"},
	} {
		got, err := sp.Expand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestSpecifierLetters: every letter SpecifierLetters lists expands, and
// every other letter or digit is refused, on the node and at submit alike.
func TestSpecifierLetters(t *testing.T) {
	for _, sp := range []Specifiers{SubmitSpecifiers("a@b.service"), {Name: "a@b.service", Host: &Host{}}} {
		for c := byte('0'); c <= 'z'; c++ {
			if !isSpecifierChar(c) || c == '%' {
				continue
			}
			_, err := sp.Lookup(c)
			if known := strings.IndexByte(SpecifierLetters, c) >= 0; known != (err == nil) {
				t.Errorf("Lookup(%c): known %v, err %v", c, known, err)
			}
		}
	}
}

func TestNamePathSpecifiers(t *testing.T) {
	for _, tc := range []struct{ name, f, I, P string }{
		{"dev-sda1.service", "/dev/sda1", "", "dev/sda1"},
		{"getty@tty1.service", "/tty1", "tty1", "getty"},
		{"mount@-.service", "/", "/", "mount"},
		{"x@.service", "/x", "", "x"},
	} {
		sp := Specifiers{Name: tc.name, Host: &Host{}}
		f, _ := sp.Lookup('f')
		i, _ := sp.Lookup('I')
		p, _ := sp.Lookup('P')
		if f != tc.f || i != tc.I || p != tc.P {
			t.Errorf("%s: %%f %%I %%P = %q %q %q, want %q %q %q", tc.name, f, i, p, tc.f, tc.I, tc.P)
		}
	}
}

func TestReadHost(t *testing.T) {
	root := t.TempDir()
	for p, data := range map[string]string{
		"proc/sys/kernel/random/boot_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\n",
		"proc/sys/kernel/osrelease":      "6.6.1-flotilla\n",
		"etc/machine-info":               "PRETTY_HOSTNAME=\"Rack 3\"\n",
		"usr/lib/os-release":             "# comment\nID=flotilla\nVERSION_ID='1.0'\nIMAGE_VERSION=\"2026.12\"\nbad line\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := readHost(root + "/")
	sp := Specifiers{Name: "a.service", Host: &h}
	got, err := sp.Expand("%b|%v|%q|%o|%w|%A|%B")
	if want := "0b1c2d3e4f5061728394a5b6c7d8e9f0|6.6.1-flotilla|Rack 3|flotilla|1.0|2026.12|"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if h.Arch == "" || h.Arch == "amd64" {
		t.Errorf("Arch = %q, want systemd's name", h.Arch)
	}
}

// TestExpandersAgree: fleet's lenient Name.Expand and the node's strict
// Specifiers.Expand give the same value for the letters both know, and
// Name.Expand leaves the others as they are.
func TestExpandersAgree(t *testing.T) {
	for _, name := range []string{"web@1.service", "db.service", "web@.service", "a.b@x.y.timer"} {
		n, err := ParseName(name)
		if err != nil {
			t.Fatal(err)
		}
		const in = "%n|%N|%p|%i|%%"
		strict, err := Specifiers{Name: name}.Expand(in)
		if err != nil {
			t.Fatal(err)
		}
		if lenient := n.Expand(in); lenient != strict {
			t.Errorf("%s: Name.Expand %q, Specifiers.Expand %q", name, lenient, strict)
		}
		if got := n.Expand("%m %H %I %{ x%"); got != "%m %H %I %{ x%" {
			t.Errorf("%s: Name.Expand expanded what systemd should: %q", name, got)
		}
	}
}

func TestSubmitSpecifiers(t *testing.T) {
	got, err := SubmitSpecifiers("web@1.service").Expand("%i on %m (%H)")
	if err != nil || got != "1 on 00000000000000000000000000000000 (localhost)" {
		t.Fatalf("got %q, %v", got, err)
	}
}
