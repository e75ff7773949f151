package statuspage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/unit"
)

//go:embed assets
var assets embed.FS

// RefreshMillis is how often the page's script fetches a fragment.
const RefreshMillis = 2000

// defaultLogLines is the log tail a unit's page shows without ?lines=.
const defaultLogLines = 50

// requestTimeout bounds the reads behind one page.
const requestTimeout = 10 * time.Second

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"unitURL": func(name string) string { return "/ui/units/" + url.PathEscape(name) },
	"short":   func(id string) string { return id[:min(len(id), 12)] },
}).ParseFS(assets, "assets/*.html"))

type handler struct {
	src Source
	mux *http.ServeMux
}

// New is the status page's handler: GET / and the paths under /ui/.
func New(src Source) http.Handler {
	h := &handler{src: src, mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets/static")
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", h.overview)
	h.mux.HandleFunc("GET /ui/{$}", h.overview)
	h.mux.HandleFunc("GET /ui/live", h.live)
	h.mux.HandleFunc("GET /ui/units/{name}", h.unit)
	h.mux.HandleFunc("GET /ui/units/{name}/log", h.log)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, fmt.Sprintf("no page %s %s: the status page is at /", r.Method, r.URL.Path))
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// overviewData is the overview page, and its live fragment.
type overviewData struct {
	Title     string
	Refresh   int
	Now       time.Time
	Machines  []*schema.Machine
	MoreMach  bool
	Units     []unitRow
	MoreUnits bool
}

// unitRow is one unit on one machine (or nowhere yet).
type unitRow struct {
	Name, Desired, Machine, MachineName, Load, Active, Sub, Health, Reason, Since string
}

func (h *handler) loadOverview(ctx context.Context) (*overviewData, error) {
	ms, err := h.src.Machines(ctx)
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	us, err := h.src.Units(ctx)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	ss, err := h.src.States(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list unit states: %w", err)
	}
	d := &overviewData{Title: "Flotilla cluster", Refresh: RefreshMillis, Now: time.Now().UTC(),
		Machines: ms.Rows, MoreMach: ms.More, MoreUnits: us.More || ss.More}
	sort.Slice(d.Machines, func(i, j int) bool { return d.Machines[i].ID < d.Machines[j].ID })
	d.Units = rows(us.Rows, ss.Rows, names(ms.Rows))
	return d, nil
}

func names(ms []*schema.Machine) map[string]string {
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.ID] = m.Name
	}
	return out
}

// rows joins the units with their reported states: a row per report, and
// one for a unit nothing reports on.
func rows(units []*schema.Unit, states []*schema.UnitState, machineNames map[string]string) []unitRow {
	byUnit := map[string][]*schema.UnitState{}
	for _, s := range states {
		byUnit[s.Name] = append(byUnit[s.Name], s)
	}
	desired := map[string]string{}
	var out []unitRow
	for _, u := range units {
		desired[u.Name] = u.DesiredState
		if len(byUnit[u.Name]) == 0 {
			out = append(out, unitRow{Name: u.Name, Desired: u.DesiredState, Machine: u.MachineID,
				MachineName: machineNames[u.MachineID], Load: "-", Active: "-", Sub: "-"})
		}
	}
	for name, ss := range byUnit {
		for _, s := range ss {
			out = append(out, unitRow{Name: name, Desired: desired[name], Machine: s.MachineID,
				MachineName: machineNames[s.MachineID], Load: s.SystemdLoadState, Active: s.SystemdActiveState,
				Sub: s.SystemdSubState, Health: s.Health, Reason: s.Reason, Since: s.Since})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Machine < out[j].Machine
	})
	return out
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	d, err := h.loadOverview(ctx)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, "cluster state unavailable: "+err.Error())
		return
	}
	h.render(w, http.StatusOK, "overview", d)
}

func (h *handler) live(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	d, err := h.loadOverview(ctx)
	if err != nil {
		http.Error(w, "cluster state unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	h.render(w, http.StatusOK, "live", d)
}

// unitData is one unit's page, and its log fragment.
type unitData struct {
	Title    string
	Refresh  int
	Name     string
	Unit     *schema.Unit
	File     string
	States   []unitRow
	Lines    int
	Log      string
	LogError string
}

func (h *handler) unit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	lines, ok := h.lines(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	u, err := h.src.Unit(ctx, name)
	if errors.Is(err, ErrNotFound) {
		h.fail(w, http.StatusNotFound, fmt.Sprintf("unit %s not found: it was never submitted, or has been destroyed (fleetctl list-unit-files lists the submitted units)", name))
		return
	}
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("unit %s: %v", name, err))
		return
	}
	ss, err := h.src.States(ctx, name)
	if err != nil {
		h.fail(w, http.StatusServiceUnavailable, fmt.Sprintf("unit %s: states: %v", name, err))
		return
	}
	var mnames map[string]string
	if ms, err := h.src.Machines(ctx); err == nil {
		mnames = names(ms.Rows)
	}
	d := &unitData{Title: name, Refresh: RefreshMillis, Name: name, Unit: u,
		File: unit.FromOptions(u.Options).String(), States: rows([]*schema.Unit{u}, ss.Rows, mnames), Lines: lines}
	d.Log, d.LogError = h.tail(ctx, name, lines)
	h.render(w, http.StatusOK, "unit", d)
}

func (h *handler) log(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	lines, ok := h.lines(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	d := &unitData{Name: name, Lines: lines}
	d.Log, d.LogError = h.tail(ctx, name, lines)
	h.render(w, http.StatusOK, "log", d)
}

// tail is the unit's log, or why there is none.
func (h *handler) tail(ctx context.Context, name string, lines int) (log, why string) {
	log, err := h.src.Log(ctx, name, lines)
	if err != nil {
		return "", strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": ")
	}
	return log, ""
}

// lines is the ?lines= of a log tail, default defaultLogLines, at most
// MaxLogLines.
func (h *handler) lines(w http.ResponseWriter, r *http.Request) (int, bool) {
	v := r.URL.Query().Get("lines")
	if v == "" {
		return defaultLogLines, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLogLines {
		h.fail(w, http.StatusBadRequest, fmt.Sprintf("lines %q: want 1..%d", v, MaxLogLines))
		return 0, false
	}
	return n, true
}

type errorData struct {
	Title   string
	Code    int
	Message string
}

func (h *handler) fail(w http.ResponseWriter, code int, msg string) {
	h.render(w, code, "error", &errorData{Title: http.StatusText(code), Code: code, Message: msg})
}

func (h *handler) render(w http.ResponseWriter, code int, name string, data any) {
	var b strings.Builder
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "statuspage: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}
