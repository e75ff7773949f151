package logforward

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Forwarder.
type Options struct {
	// Machine names the node in every record: syslog's HOSTNAME, the
	// structured data's machine=, JSON's "machine".
	Machine string
	// Logf reports connection changes (once per new error); default: discard.
	Logf func(format string, args ...any)
	// FlushTimeout bounds Close's last attempt at what is queued; default 2s.
	FlushTimeout time.Duration
}

// Forwarder copies log lines to its destinations. Its methods are safe for
// concurrent use, and on a nil *Forwarder, which forwards nothing.
type Forwarder struct {
	opts    Options
	senders []*sender
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New starts one sender per destination. It fails only on a CA file that
// cannot be read; receivers that are down are retried in the background.
func New(ds []Destination, opts Options) (*Forwarder, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 2 * time.Second
	}
	f := &Forwarder{opts: opts}
	for _, d := range ds {
		s, err := newSender(d, opts.Machine, opts.Logf)
		if err != nil {
			return nil, err
		}
		f.senders = append(f.senders, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for _, s := range f.senders {
		f.wg.Go(func() { s.run(ctx, opts.FlushTimeout) })
	}
	return f, nil
}

// Close sends what is queued and stops, within about twice FlushTimeout
// (a write in progress gets FlushTimeout, then the last flush does).
func (f *Forwarder) Close() {
	if f == nil {
		return
	}
	f.cancel()
	f.wg.Wait()
}

// Lines queues every line of p (a final line without a newline counts as
// one) from unit's stream s. It copies p and never blocks on the network:
// a destination whose buffer is full drops the lines and counts them.
func (f *Forwarder) Lines(unit string, s Stream, p []byte) {
	f.lines(unit, s, p, false)
}

// DaemonLines queues a daemon's own log lines (stream Log), each without
// the standard logger's date and time prefix (the record has its own time).
func (f *Forwarder) DaemonLines(unit string, p []byte) {
	f.lines(unit, Log, p, true)
}

func (f *Forwarder) lines(unit string, s Stream, p []byte, trim bool) {
	if f == nil || len(p) == 0 {
		return
	}
	now := time.Now().UnixNano()
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if trim {
			line = trimLogPrefix(line)
		}
		for _, snd := range f.senders {
			snd.q.add(now, unit, s, line)
		}
	}
}

// Writer is an io.Writer for a daemon's own log (a log.Logger's output):
// each write goes to DaemonLines.
func (f *Forwarder) Writer(unit string) io.Writer {
	return logWriter{f: f, unit: unit}
}

type logWriter struct {
	f    *Forwarder
	unit string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.f.DaemonLines(w.unit, p)
	return len(p), nil
}

// trimLogPrefix drops log.LstdFlags' "2006/01/02 15:04:05" and an
// optional ".000000" (Lmicroseconds) and the space after them.
func trimLogPrefix(p []byte) []byte {
	const date = "2006/01/02 15:04:05"
	if len(p) < len(date)+1 {
		return p
	}
	for i := range len(date) {
		c, d := p[i], date[i]
		if (d >= '0' && d <= '9') != (c >= '0' && c <= '9') || (d < '0' || d > '9') && c != d {
			return p
		}
	}
	rest := p[len(date):]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		rest = rest[i:]
	}
	if len(rest) > 0 && rest[0] == ' ' {
		return rest[1:]
	}
	return p
}

// Stats is one destination's counters.
type Stats struct {
	Destination string `json:"destination"` // PROTOCOL://HOST:PORT
	Sent        uint64 `json:"sent"`        // lines written to the connection
	Dropped     uint64 `json:"dropped"`     // lines lost: buffer full, failed writes, left at Close
	Connected   bool   `json:"connected"`
	Buffered    int    `json:"buffered"` // bytes waiting in the buffer
}

// Stats reads every destination's counters.
func (f *Forwarder) Stats() []Stats {
	if f == nil {
		return nil
	}
	st := make([]Stats, len(f.senders))
	for i, s := range f.senders {
		st[i] = Stats{Destination: s.d.Name(), Sent: s.sent.Load(), Dropped: s.q.dropped.Load(),
			Connected: s.connected.Load(), Buffered: s.q.buffered()}
	}
	return st
}

var (
	labels   = []string{"destination", "process"}
	sentDesc = prometheus.NewDesc("flotilla_log_forward_sent_lines_total",
		"Log lines written to the destination's connection.", labels, nil)
	droppedDesc = prometheus.NewDesc("flotilla_log_forward_dropped_lines_total",
		"Log lines dropped for the destination: its buffer full (receiver down or slow), or a write that failed.", labels, nil)
	connectedDesc = prometheus.NewDesc("flotilla_log_forward_connected",
		"1 while the destination's connection is up (for UDP: the last send succeeded).", labels, nil)
	bufferedDesc = prometheus.NewDesc("flotilla_log_forward_buffered_bytes",
		"Bytes of log lines waiting for the destination.", labels, nil)
)

// Collector exports Stats to Prometheus, read at scrape time, labelled
// with the process that forwards: stats is called once per scrape, a
// Forwarder's Stats (process "fleetd") or SocketStats (process "init",
// which forwards the units it hosts on the OS).
func Collector(process string, stats func() []Stats) prometheus.Collector {
	return collector{process, stats}
}

type collector struct {
	process string
	stats   func() []Stats
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sentDesc
	ch <- droppedDesc
	ch <- connectedDesc
	ch <- bufferedDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		up := 0.0
		if s.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sentDesc, prometheus.CounterValue, float64(s.Sent), s.Destination, c.process)
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(s.Dropped), s.Destination, c.process)
		ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, up, s.Destination, c.process)
		ch <- prometheus.MustNewConstMetric(bufferedDesc, prometheus.GaugeValue, float64(s.Buffered), s.Destination, c.process)
	}
}
