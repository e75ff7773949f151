package unit

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReserve(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name, unit string
		want       Resources
	}{
		{"none", "[Service]\nExecStart=/bin/true\n", Resources{}},
		{"x-fleet keys", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nReserveMemory=2G\nReserveCPU=1.5\n", Resources{MilliCPU: 1500, Memory: 2 * gib}},
		{"x-fleet cpu percent", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nReserveCPU=50%\n", Resources{MilliCPU: 500}},
		{"x-fleet tenth", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nReserveCPU=0.1\n", Resources{MilliCPU: 100}},
		{"podman spelling", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nReserveMemory=1.5GiB\n", Resources{Memory: 3 * gib / 2}},
		{"service limits", "[Service]\nExecStart=/bin/true\nMemoryMax=512M\nCPUQuota=200%\n", Resources{MilliCPU: 2000, Memory: 512 << 20}},
		{"x-fleet wins over limits", "[Service]\nExecStart=/bin/true\nMemoryMax=4G\nCPUQuota=200%\n[X-Fleet]\nReserveMemory=1G\n", Resources{MilliCPU: 2000, Memory: gib}},
		{"empty resets to limits", "[Service]\nExecStart=/bin/true\nMemoryMax=4G\n[X-Fleet]\nReserveMemory=1G\nReserveMemory=\n", Resources{Memory: 4 * gib}},
		{"limits systemd cannot size reserve nothing", "[Service]\nExecStart=/bin/true\nMemoryMax=infinity\nCPUQuota=\n", Resources{}},
		{"memory percent reserves nothing", "[Service]\nExecStart=/bin/true\nMemoryMax=50%\n", Resources{}},
		{"quadlet memory", "[Container]\nImage=busybox\nMemory=256m\n", Resources{Memory: 256 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("a.service", []byte(tc.unit))
			if err != nil {
				t.Fatal(err)
			}
			fl, err := ParseFleet(mustName(t, "a.service"), f)
			if err != nil {
				t.Fatal(err)
			}
			if fl.Reserve != tc.want {
				t.Errorf("Reserve = %+v, want %+v", fl.Reserve, tc.want)
			}
		})
	}
}

func TestParseReserveErrors(t *testing.T) {
	for _, tc := range []struct{ xfleet, field, msg string }{
		{"ReserveMemory=lots\n", "ReserveMemory", "512M"},
		{"ReserveMemory=-1G\n", "ReserveMemory", "512M"},
		{"ReserveMemory=0\n", "ReserveMemory", "at least one byte"},
		{"ReserveCPU=two\n", "ReserveCPU", "0.5"},
		{"ReserveCPU=0\n", "ReserveCPU", "more than zero"},
		{"ReserveCPU=1e3\n", "ReserveCPU", "0.5"},
	} {
		_, err := fleetOf(t, "a.service", tc.xfleet)
		var ue *Error
		if !errors.As(err, &ue) || ue.Field != tc.field || ue.Section != FleetSection || !strings.Contains(ue.Msg, tc.msg) {
			t.Errorf("%q: err = %v, want an [X-Fleet] %s error saying %q", tc.xfleet, err, tc.field, tc.msg)
		}
	}
}

func TestFormatResources(t *testing.T) {
	for _, tc := range []struct {
		r    Resources
		want string
	}{
		{Resources{Memory: 2 << 30}, "memory 2 GiB"},
		{Resources{Memory: 1288490188}, "memory 1.1 GiB"},
		{Resources{MilliCPU: 1000}, "1 CPU"},
		{Resources{MilliCPU: 1500, Memory: 512 << 20}, "memory 512 MiB, 1.5 CPUs"},
		{Resources{}, "nothing"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

func mustName(t *testing.T, s string) Name {
	t.Helper()
	n, err := ParseName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
