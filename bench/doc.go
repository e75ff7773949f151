// Package bench holds Flotilla's benchmarks. Each prints its figures with
// b.ReportMetric; run them one at a time with
//
//	go test -run '^$' -bench 'Placement' -benchtime 1x ./bench
//
// The README's "Measured figures" table quotes them.
package bench
