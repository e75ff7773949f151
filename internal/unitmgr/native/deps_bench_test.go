package native

import (
	"fmt"
	"testing"
)

// BenchmarkDepsGraph: building the graph of 1000 services, each with a
// sidekick (BindsTo=, After=), and computing one sidekick's start set: what
// each Start pays after a Load changed the graph.
func BenchmarkDepsGraph(b *testing.B) {
	deps := map[string]*unitDeps{}
	for i := range 1000 {
		svc := fmt.Sprintf("web%d.service", i)
		deps[svc] = &unitDeps{}
		deps[fmt.Sprintf("web%d-discovery.service", i)] = &unitDeps{bindsTo: []string{svc}, after: []string{svc}}
	}
	for b.Loop() {
		g := newGraph(deps)
		if got := g.startSet("web7-discovery.service"); len(got) != 2 {
			b.Fatal(got)
		}
	}
}
