package fleetd

import (
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

func TestCapacityFlags(t *testing.T) {
	c, err := ParseFlags([]string{"--name", "n1", "--capacity-cpus", "1.5", "--capacity-memory", "8G"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if want := (unit.Resources{MilliCPU: 1500, Memory: 8 << 30}); c.Capacity != want {
		t.Errorf("Capacity = %+v, want %+v", c.Capacity, want)
	}
	for _, args := range [][]string{{"--capacity-cpus", "lots"}, {"--capacity-memory", "0"}} {
		var stderr strings.Builder
		_, err := ParseFlags(append([]string{"--name", "n1"}, args...), &stderr)
		if err == nil || !strings.Contains(err.Error(), args[0][1:]) {
			t.Errorf("ParseFlags(%q) = %v, want an error naming %s", args, err, args[0])
		}
	}
}
