package metrics

import (
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// BenchmarkScrape1000: the node's own share of one scrape with 1,000
// units, each started once (1,000 series per unit counter), in the text
// format without compression; the cgroup root holds no groups (plain
// units). bench/metrics_test.go measures the whole scrape of a fleetd.
//
//	go test -run '^$' -bench Scrape1000 ./internal/metrics
func BenchmarkScrape1000(b *testing.B) {
	n := New(Sources{CgroupRoot: b.TempDir(), Gatherer: prometheus.NewRegistry()})
	for i := range 1000 {
		n.UnitState(fmt.Sprintf("u%04d.service", i), unit.State{Active: unit.ActiveActive, Sub: "running", PID: i + 1}, true)
	}
	h := n.Handler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		_, _ = io.Copy(io.Discard, w.Body)
	}
}
