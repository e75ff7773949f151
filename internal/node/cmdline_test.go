package node

import (
	"reflect"
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
			want: Cmdline{Slot: "A", Params: []string{"console=ttyS0", "random.trust_cpu=on", "panic=10"}}},
		{in: "console=tty0 console=ttyS0,115200n8 flotilla.slot=b flotilla.debug=1 flotilla.config=http://10.0.2.2:8000/c.json",
			want: Cmdline{Slot: "B", Debug: true, ConfigURL: "http://10.0.2.2:8000/c.json", Params: []string{"console=tty0", "console=ttyS0,115200n8"}}},
		{in: `flotilla.slot=A flotilla.debug dyndbg="file x +p" flotilla.config="http://h/a b"`,
			want: Cmdline{Slot: "A", Debug: true, ConfigURL: "http://h/a b", Params: []string{"dyndbg=file x +p"}}},
		{in: "flotilla.config=http://a/ flotilla.debug=1 flotilla.config=http://b/ flotilla.debug=off",
			want: Cmdline{ConfigURL: "http://b/"}},
		{in: "", want: Cmdline{}},
		{in: "flotilla.slot=C", want: Cmdline{Slot: "C"}, wantErr: `flotilla.slot="C": want A or B`},
		{in: "flotilla.slot", wantErr: `flotilla.slot="": want A or B`},
		{in: "flotilla.slot=A flotilla.debug=maybe flotilla.config=http://c/",
			want: Cmdline{Slot: "A", ConfigURL: "http://c/"}, wantErr: "flotilla.debug"},
	} {
		got, err := ParseCmdline(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseCmdline(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
			}
		} else if err != nil {
			t.Errorf("ParseCmdline(%q): %v", tc.in, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCmdline(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestCmdlineString(t *testing.T) {
	for _, tc := range []struct {
		c    Cmdline
		want string
	}{
		// image-build's UKI command line, byte for byte (uki.ForSlot and the
		// updater find the slot letter after "flotilla.slot=").
		{Cmdline{Slot: "A", Params: []string{"console=ttyS0,115200", "loglevel=4"}, Debug: true},
			"flotilla.slot=A console=ttyS0,115200 loglevel=4 flotilla.debug=1"},
		{Cmdline{Slot: "B", ConfigURL: "http://h/a b", Params: []string{"dyndbg=file x +p", "", "a b=c", "=x y"}},
			`flotilla.slot=B dyndbg="file x +p" "" "a b=c" "=x y" flotilla.config="http://h/a b"`},
		{Cmdline{}, ""},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.c, got, tc.want)
		}
		back, err := ParseCmdline(tc.want)
		if err != nil || !reflect.DeepEqual(back, tc.c) {
			t.Errorf("ParseCmdline(%q) = %#v, %v; want %#v", tc.want, back, err, tc.c)
		}
	}
}

func TestCmdlineConsole(t *testing.T) {
	for in, want := range map[string]string{
		"console=tty0 console=ttyS0,115200n8": "ttyS0",
		"console=ttyS1":                       "ttyS1",
		"quiet":                               "",
	} {
		c, err := ParseCmdline(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Console(); got != want {
			t.Errorf("ParseCmdline(%q).Console() = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseCmdline: whatever parses prints back to a line that parses to
// the same value.
func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{
		"flotilla.slot=A console=ttyS0,115200 random.trust_cpu=on panic=10 softlockup_panic=1 loglevel=4 flotilla.debug=1",
		`flotilla.slot=b flotilla.debug dyndbg="file x +p" flotilla.config="http://h/a b"`,
		`"" "a b=c" = "=" flotilla.debug=0 flotilla.config=`,
		"console=tty0\tconsole=ttyS0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCmdline(s)
		if err != nil {
			return
		}
		line := c.String()
		back, err := ParseCmdline(line)
		if err != nil {
			t.Fatalf("ParseCmdline(%q) = %#v; its String %q does not parse: %v", s, c, line, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("ParseCmdline(%q) = %#v; String %q parses to %#v", s, c, line, back)
		}
	})
}
