package fleetd

import (
	"net/http"

	"github.com/flotilla-os/flotilla/internal/statuspage"
)

// withStatusPage serves the web status page at GET / and under /ui/
// beside the API, reading through the API handler itself; every other
// request (POST / included) is the API's, as before.
func withStatusPage(apiHandler http.Handler) http.Handler {
	page := statuspage.New(statuspage.FromAPI(apiHandler))
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("/ui/", page)
	mux.Handle("/", apiHandler)
	return mux
}
