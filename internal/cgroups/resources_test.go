package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseResources(t *testing.T) {
	physicalMemory = func() (uint64, error) { return 8 << 30, nil }
	systemMaxTasks = func() (uint64, error) { return 4194304, nil }
	const M = 1 << 20
	for _, tc := range []struct {
		keys map[string]string
		want Resources
		err  string // substring; "" = no error
	}{
		{keys: nil, want: Resources{}},
		{keys: map[string]string{"MemoryMax": "512M", "MemoryHigh": "400M"}, want: Resources{MemoryMax: 512 * M, MemoryHigh: 400 * M}},
		{keys: map[string]string{"MemoryMax": "1G"}, want: Resources{MemoryMax: 1 << 30}},
		{keys: map[string]string{"MemoryMax": "1.5K"}, want: Resources{MemoryMax: 1536}},
		{keys: map[string]string{"MemoryMax": "2T"}, want: Resources{MemoryMax: 2 << 40}},
		{keys: map[string]string{"MemoryMax": "1048576"}, want: Resources{MemoryMax: M}},
		{keys: map[string]string{"MemoryMax": "infinity", "MemoryHigh": ""}, want: Resources{}},
		{keys: map[string]string{"MemoryMax": "25%"}, want: Resources{MemoryMax: 2 << 30}},
		{keys: map[string]string{"CPUQuota": "50%"}, want: Resources{CPUQuota: 50}},
		{keys: map[string]string{"CPUQuota": "200%"}, want: Resources{CPUQuota: 200}},
		{keys: map[string]string{"CPUQuota": "12.5%"}, want: Resources{CPUQuota: 13}},
		{keys: map[string]string{"CPUWeight": "100", "IOWeight": "10000"}, want: Resources{CPUWeight: 100, IOWeight: 10000}},
		{keys: map[string]string{"TasksMax": "64"}, want: Resources{TasksMax: 64}},
		{keys: map[string]string{"TasksMax": "infinity"}, want: Resources{}},
		{keys: map[string]string{"TasksMax": "15%"}, want: Resources{TasksMax: 629145}},
		{keys: map[string]string{"MemoryMax": "12Q"}, err: "MemoryMax=12Q: want bytes"},
		{keys: map[string]string{"MemoryMax": "-5M"}, err: "MemoryMax=-5M"},
		{keys: map[string]string{"MemoryMax": "0"}, err: `MemoryMax=0: must be at least 1 byte`},
		{keys: map[string]string{"MemoryHigh": "lots"}, err: "MemoryHigh=lots"},
		{keys: map[string]string{"MemoryMax": "1e9"}, err: "MemoryMax=1e9"},
		{keys: map[string]string{"MemoryMax": "99999999E"}, err: "MemoryMax=99999999E: too large"},
		{keys: map[string]string{"MemoryMax": "0%"}, err: "MemoryMax=0%: want a positive percentage"},
		{keys: map[string]string{"CPUQuota": "50"}, err: "CPUQuota=50: want a percentage"},
		{keys: map[string]string{"CPUQuota": "-1%"}, err: "CPUQuota=-1%"},
		{keys: map[string]string{"CPUWeight": "0"}, err: "CPUWeight=0: want a weight from 1 to 10000"},
		{keys: map[string]string{"CPUWeight": "10001"}, err: "CPUWeight=10001"},
		{keys: map[string]string{"CPUWeight": "idle"}, err: "CPUWeight=idle"},
		{keys: map[string]string{"IOWeight": "0"}, err: "IOWeight=0"},
		{keys: map[string]string{"TasksMax": "0"}, err: "TasksMax=0: want a positive number"},
		{keys: map[string]string{"TasksMax": "many"}, err: "TasksMax=many"},
		// Every bad key is reported, not only the first.
		{keys: map[string]string{"CPUWeight": "0", "TasksMax": "x"}, err: "CPUWeight=0"},
		{keys: map[string]string{"CPUWeight": "0", "TasksMax": "x"}, err: "TasksMax=x"},
	} {
		got, err := ParseResources(func(k string) (string, bool) { v, ok := tc.keys[k]; return v, ok })
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.keys, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want one containing %q", tc.keys, err, tc.err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%v: got %+v, want %+v", tc.keys, got, tc.want)
		}
	}
}

func TestConversions(t *testing.T) {
	for w, want := range map[uint64]uint64{1: 10, 100: 19, 5000: 504, 10000: 1000} {
		if got := ioWeightV1(w); got != want {
			t.Errorf("ioWeightV1(%d) = %d, want %d", w, got, want)
		}
	}
	for w, want := range map[uint64]uint64{1: 10, 100: 1024, 200: 2048, 10000: 102400} {
		if got := cpuShares(w); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", w, got, want)
		}
	}
}
