package logforward

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"
)

// StatsPath is where StatsHandler answers on a host's root-only socket
// (init's unit manager socket on the OS).
const StatsPath = "/v1/logforward"

// StatsHandler serves f's Stats as JSON (an empty list for a nil f).
func StatsHandler(f *Forwarder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := f.Stats()
		if st == nil {
			st = []Stats{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
}

// statsTimeout bounds one SocketStats fetch (a scrape waits for it).
const statsTimeout = 2 * time.Second

// SocketStats reads the Stats that StatsHandler serves on the unix socket
// at path; each call makes one request, and an error gives none (the
// scrape goes on without them).
func SocketStats(path string) func() []Stats {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
		MaxIdleConns:       1,
	}}
	return func() []Stats {
		ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://host"+StatsPath, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		var st []Stats
		if json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&st) != nil || len(st) > MaxDestinations {
			return nil
		}
		return st
	}
}
