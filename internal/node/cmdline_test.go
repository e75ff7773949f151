package node

import (
	"reflect"
	"strings"
	"testing"
)

const root = "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076"

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
		{in: "flotilla.slot=A flotilla.verity.root=" + root + " flotilla.verity.salt=00ff flotilla.verity.blocks=3328 flotilla.verity.hashoffset=13631488 quiet",
			want: Cmdline{Slot: "A", Verity: Verity{RootHash: root, Salt: "00ff", DataBlocks: 3328, HashOffset: 13631488}, Params: []string{"quiet"}}},
		{in: "flotilla.verity.root=" + root + " flotilla.verity.blocks=1 flotilla.verity.hashoffset=4096",
			want: Cmdline{Verity: Verity{RootHash: root, DataBlocks: 1, HashOffset: 4096}}},
		{in: "flotilla.verity.root=" + strings.ToUpper(root) + " flotilla.verity.blocks=1 flotilla.verity.hashoffset=4096",
			want: Cmdline{Verity: Verity{RootHash: strings.ToUpper(root), DataBlocks: 1, HashOffset: 4096}}, wantErr: "flotilla.verity.root="},
		{in: "flotilla.verity.root=" + root + " flotilla.verity.hashoffset=4096",
			want: Cmdline{Verity: Verity{RootHash: root, HashOffset: 4096}}, wantErr: "flotilla.verity.blocks is missing"},
		{in: "flotilla.verity.root=" + root + " flotilla.verity.blocks=2 flotilla.verity.hashoffset=4096",
			want: Cmdline{Verity: Verity{RootHash: root, DataBlocks: 2, HashOffset: 4096}}, wantErr: "at or past the 2 data blocks"},
		{in: "flotilla.verity.root=" + root + " flotilla.verity.salt=abc flotilla.verity.blocks=1 flotilla.verity.hashoffset=4096",
			want: Cmdline{Verity: Verity{RootHash: root, Salt: "abc", DataBlocks: 1, HashOffset: 4096}}, wantErr: "flotilla.verity.salt"},
		{in: "flotilla.verity.blocks=x", wantErr: `flotilla.verity.blocks="x": want a positive number`},
		{in: "flotilla.verity.salt=00", want: Cmdline{Verity: Verity{Salt: "00"}}, wantErr: "flotilla.verity.root"},
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
		{Cmdline{Slot: "A", Params: []string{"quiet"}, Verity: Verity{RootHash: root, DataBlocks: 9, HashOffset: 36864}, Debug: true},
			"flotilla.slot=A quiet flotilla.verity.root=" + root + " flotilla.verity.blocks=9 flotilla.verity.hashoffset=36864 flotilla.debug=1"},
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
		"flotilla.slot=A flotilla.verity.root=" + root + " flotilla.verity.salt=00ff flotilla.verity.blocks=3 flotilla.verity.hashoffset=12288",
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
