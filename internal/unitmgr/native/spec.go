package native

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// spec is what Load makes of a unit file's [Service] section.
type spec struct {
	hash            string // the unit file's Hash
	typ             string // simple | exec | oneshot
	remainAfterExit bool
	pre, start      []command
	post, stop      []command
	stopPost        []command
	restart         string
	restartSec      time.Duration
	env             []string // K=V from Environment=, in order
	envFiles        []optPath
	workDir         optPath
	user, group     string
	timeoutStart    time.Duration
	timeoutStop     time.Duration
	killSignal      syscall.Signal
	killMode        string // control-group | process | mixed
	limitBurst      int
	limitInterval   time.Duration
	container       *container.Spec // [Container]; nil for a plain service
	health          *health.Config  // HealthCmd= or [X-Fleet] HealthCheck=; nil without a check
	warnings        []string        // ignored Quadlet keys, logged at Load
}

// optPath is a path that may carry systemd's "-" (ignore if missing) prefix.
type optPath struct {
	path     string
	optional bool
}

// keyFunc applies one [Service] option to sp. ex expands specifiers.
type keyFunc func(sp *spec, v string, ex *expander) error

// serviceKeys is the one table of [Service] keys this manager implements.
// Add new keys here (and their handling in run.go / exec.go).
var serviceKeys = map[string]keyFunc{
	"Type":                  setType,
	"RemainAfterExit":       boolKey(func(sp *spec) *bool { return &sp.remainAfterExit }),
	"ExecStartPre":          execKey("ExecStartPre", func(sp *spec) *[]command { return &sp.pre }),
	"ExecStart":             execKey("ExecStart", func(sp *spec) *[]command { return &sp.start }),
	"ExecStartPost":         execKey("ExecStartPost", func(sp *spec) *[]command { return &sp.post }),
	"ExecStop":              execKey("ExecStop", func(sp *spec) *[]command { return &sp.stop }),
	"ExecStopPost":          execKey("ExecStopPost", func(sp *spec) *[]command { return &sp.stopPost }),
	"Restart":               setRestart,
	"RestartSec":            durationKey(func(sp *spec) *time.Duration { return &sp.restartSec }, parseDuration),
	"Environment":           setEnvironment,
	"EnvironmentFile":       setEnvironmentFile,
	"WorkingDirectory":      setWorkingDirectory,
	"User":                  stringKey(func(sp *spec) *string { return &sp.user }),
	"Group":                 stringKey(func(sp *spec) *string { return &sp.group }),
	"TimeoutStartSec":       durationKey(func(sp *spec) *time.Duration { return &sp.timeoutStart }, parseTimeout),
	"TimeoutStopSec":        durationKey(func(sp *spec) *time.Duration { return &sp.timeoutStop }, parseTimeout),
	"TimeoutSec":            setTimeoutSec,
	"KillSignal":            setKillSignal,
	"KillMode":              setKillMode,
	"StartLimitBurst":       setLimitBurst,
	"StartLimitIntervalSec": durationKey(func(sp *spec) *time.Duration { return &sp.limitInterval }, parseDuration),
	"StartLimitInterval":    durationKey(func(sp *spec) *time.Duration { return &sp.limitInterval }, parseDuration),
}

// ignoredServiceKeys are accepted and have no effect here: output always
// goes to the unit's log, and these change nothing else a unit relies on.
var ignoredServiceKeys = map[string]bool{
	"SyslogIdentifier": true, "SyslogFacility": true, "SyslogLevel": true,
	"StandardOutput": true, "StandardError": true, "LogLevelMax": true,
}

// unitStartLimitKeys are read from [Unit], where modern systemd puts them.
var unitStartLimitKeys = []string{"StartLimitBurst", "StartLimitIntervalSec", "StartLimitInterval"}

func defaultSpec() *spec {
	return &spec{
		typ: "simple", restart: "no", restartSec: 100 * time.Millisecond,
		timeoutStart: 90 * time.Second, timeoutStop: 90 * time.Second,
		killSignal: syscall.SIGTERM, killMode: "control-group",
		limitBurst: 5, limitInterval: 10 * time.Second,
	}
}

// parseSpec builds a spec from f. Sections other than [Service] are ignored,
// except the start-limit keys of [Unit].
func parseSpec(name string, f *unit.File, ex *expander) (*spec, error) {
	sp := defaultSpec()
	timeoutStartSet := false
	apply := func(o unit.Option) error {
		fn, ok := serviceKeys[o.Name]
		if !ok {
			if ignoredServiceKeys[o.Name] || container.IsResourceKey(o.Name) {
				return nil
			}
			return &unit.Error{Unit: name, Section: o.Section, Field: o.Name, Msg: "unsupported key for the native unit manager"}
		}
		timeoutStartSet = timeoutStartSet || o.Name == "TimeoutStartSec" || o.Name == "TimeoutSec"
		if err := fn(sp, o.Value, ex); err != nil {
			return &unit.Error{Unit: name, Section: o.Section, Field: o.Name, Msg: err.Error()}
		}
		return nil
	}
	for _, o := range f.Options {
		isLimit := o.Section == "Unit" && contains(unitStartLimitKeys, o.Name)
		if o.Section != "Service" && !isLimit {
			continue
		}
		if err := apply(o); err != nil {
			return nil, err
		}
	}
	if sp.typ == "oneshot" && !timeoutStartSet {
		sp.timeoutStart = infinity
	}
	cw, err := parseContainer(name, f, ex, sp)
	if err != nil {
		return nil, err
	}
	sp.warnings = append(sp.warnings, cw...)
	if err := parseHealth(name, f, sp); err != nil {
		return nil, err
	}
	if sp.container != nil && f.Values("Service", "TimeoutStopSec") == nil && f.Values("Service", "TimeoutSec") == nil {
		// A container's entrypoint is PID 1 of its namespace and ignores
		// SIGTERM unless it handles it: stop as Podman does, SIGKILL after 10 s.
		sp.timeoutStop = containerStopTimeout
	}
	return sp, sp.check(name)
}

// check validates the combination of keys.
func (sp *spec) check(name string) error {
	if sp.container != nil {
		if len(sp.start) > 0 {
			return &unit.Error{Unit: name, Section: "Service", Field: "ExecStart", Msg: "a container unit's command comes from [Container] Exec= (and the image): remove ExecStart="}
		}
		return nil
	}
	if sp.typ != "oneshot" && len(sp.start) != 1 {
		msg := "Type=" + sp.typ + " needs exactly one ExecStart= (only Type=oneshot may have several)"
		return &unit.Error{Unit: name, Section: "Service", Field: "ExecStart", Msg: msg}
	}
	if sp.typ == "oneshot" && len(sp.start) == 0 && !sp.remainAfterExit {
		return &unit.Error{Unit: name, Section: "Service", Field: "ExecStart", Msg: "no ExecStart= given"}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func setType(sp *spec, v string, _ *expander) error {
	switch v {
	case "simple", "exec", "oneshot":
		sp.typ = v
	case "idle":
		sp.typ = "simple"
	default:
		return fmt.Errorf("Type=%s is not supported (use simple, exec or oneshot)", v)
	}
	return nil
}

func setRestart(sp *spec, v string, _ *expander) error {
	switch v {
	case "no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog":
		sp.restart = v
		return nil
	}
	return fmt.Errorf("Restart=%s is not one of no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog", v)
}

func setTimeoutSec(sp *spec, v string, _ *expander) error {
	d, err := parseTimeout(v)
	sp.timeoutStart, sp.timeoutStop = d, d
	return err
}

func setKillSignal(sp *spec, v string, _ *expander) error {
	sig, err := parseSignal(v)
	sp.killSignal = sig
	return err
}

func setKillMode(sp *spec, v string, _ *expander) error {
	switch v {
	case "control-group", "process", "mixed":
		sp.killMode = v
		return nil
	}
	return fmt.Errorf("KillMode=%s is not one of control-group, process, mixed", v)
}

func setLimitBurst(sp *spec, v string, _ *expander) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a count", v)
	}
	sp.limitBurst = n
	return nil
}

// setEnvironment reads Environment="A=b c" D=e as systemd's
// config_parse_environ does: an empty value resets the list; a line that
// does not split into words (an unknown escape, an open quote) is ignored
// with a warning, and so is a word whose specifiers do not expand or that
// is not NAME=value (a bare FOO).
func setEnvironment(sp *spec, v string, ex *expander) error {
	if v == "" {
		sp.env = nil
		return nil
	}
	warn := func(format string, args ...any) {
		sp.warnings = append(sp.warnings, "[Service] Environment=: "+fmt.Sprintf(format, args...))
	}
	words, err := unit.SplitWordsStrict(v)
	if err != nil {
		warn("invalid syntax (%v), ignoring: %s", err, v)
		return nil
	}
	for _, w := range words {
		kv, err := ex.expand(w)
		if err != nil {
			warn("%v, ignoring: %s", err, w)
			continue
		}
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !validName(k) {
			warn("invalid environment assignment, ignoring: %s", kv)
			continue
		}
		sp.env = append(sp.env, kv)
	}
	return nil
}

func setEnvironmentFile(sp *spec, v string, ex *expander) error {
	if v == "" {
		sp.envFiles = nil
		return nil
	}
	p, err := parseOptPath(v, ex)
	sp.envFiles = append(sp.envFiles, p)
	return err
}

func setWorkingDirectory(sp *spec, v string, ex *expander) error {
	p, err := parseOptPath(v, ex)
	if err == nil && p.path != "~" && !strings.HasPrefix(p.path, "/") {
		err = fmt.Errorf("%q is not an absolute path or ~", p.path)
	}
	sp.workDir = p
	return err
}

func parseOptPath(v string, ex *expander) (optPath, error) {
	p := optPath{}
	v, p.optional = strings.CutPrefix(v, "-")
	s, err := ex.expand(v)
	p.path = s
	if err == nil && s == "" {
		err = fmt.Errorf("empty path")
	}
	return p, err
}

func execKey(key string, field func(*spec) *[]command) keyFunc {
	return func(sp *spec, v string, ex *expander) error {
		list := field(sp)
		if v == "" {
			*list = nil
			return nil
		}
		cs, err := parseCommands(v, ex.spec)
		if err != nil {
			return err
		}
		if unit.HasUnknownEscape(v) {
			// Parsed only with the relaxed retry: systemd warns too.
			sp.warnings = append(sp.warnings, fmt.Sprintf("[Service] %s=: ignoring unknown escape sequences (kept as written): %s", key, v))
		}
		*list = append(*list, cs...)
		return nil
	}
}

func boolKey(field func(*spec) *bool) keyFunc {
	return func(sp *spec, v string, _ *expander) error { return parseBoolInto(field(sp), v) }
}

func stringKey(field func(*spec) *string) keyFunc {
	return func(sp *spec, v string, ex *expander) error {
		s, err := ex.expand(v)
		*field(sp) = s
		return err
	}
}

func durationKey(field func(*spec) *time.Duration, parse func(string) (time.Duration, error)) keyFunc {
	return func(sp *spec, v string, _ *expander) error {
		d, err := parse(v)
		*field(sp) = d
		return err
	}
}

func parseBoolInto(b *bool, v string) error {
	val, ok := unit.ParseBool(v)
	if !ok {
		return fmt.Errorf("%q is not a boolean", v)
	}
	*b = val
	return nil
}
