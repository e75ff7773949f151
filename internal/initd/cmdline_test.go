package initd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Cmdline
		wantErr string
	}{
		{in: "flotilla.slot=A console=ttyS0 random.trust_cpu=on panic=10\n",
			want: Cmdline{Slot: "A", Console: "ttyS0"}},
		{in: "console=tty0 console=ttyS0,115200n8 flotilla.slot=b flotilla.debug=1 flotilla.config=http://10.0.2.2:8000/c.json",
			want: Cmdline{Slot: "B", Debug: true, Console: "ttyS0", ConfigURL: "http://10.0.2.2:8000/c.json"}},
		{in: `flotilla.slot=A flotilla.debug dyndbg="file x +p" flotilla.config="http://h/a b"`,
			want: Cmdline{Slot: "A", Debug: true, ConfigURL: "http://h/a b"}},
		{in: "flotilla.slot=A flotilla.debug=0", want: Cmdline{Slot: "A"}},
		{in: "console=ttyS0", wantErr: "flotilla.slot= is missing"},
		{in: "flotilla.slot=C", wantErr: `flotilla.slot="C": want A or B`},
		{in: "flotilla.slot=A flotilla.debug=maybe", wantErr: "flotilla.debug"},
	} {
		got, err := ParseCmdline(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseCmdline(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCmdline(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseCmdline(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestConsoleDevice(t *testing.T) {
	if got := (Cmdline{Console: "ttyS0"}).ConsoleDevice(); got != "/dev/ttyS0" {
		t.Errorf("ConsoleDevice = %q", got)
	}
	if got := (Cmdline{}).ConsoleDevice(); got != "/dev/console" {
		t.Errorf("ConsoleDevice = %q", got)
	}
	if got := (Cmdline{Slot: "B"}).RootPartName(); got != "ROOT-B" {
		t.Errorf("RootPartName = %q", got)
	}
}

func TestMemoryUsed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	os.WriteFile(p, []byte("MemTotal:         500000 kB\nMemFree:  1 kB\nMemAvailable:     400000 kB\n"), 0o644)
	got, err := MemoryUsed(p)
	if err != nil || got != 100000<<10 {
		t.Fatalf("MemoryUsed = %d, %v; want %d", got, err, 100000<<10)
	}
	os.WriteFile(p, []byte("MemTotal: 5 kB\n"), 0o644)
	if _, err := MemoryUsed(p); err == nil {
		t.Fatal("meminfo without MemAvailable accepted")
	}
}
