package rebootwindow

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
	// MaxLength is the longest window: a week, which is always open.
	MaxLength = week
)

// Window is a span of time that repeats every week, or every day. The zero
// Window is never open; make one with Parse.
type Window struct {
	daily  bool
	day    time.Weekday  // the day it opens, unless daily
	start  time.Duration // from 00:00 UTC of that day
	length time.Duration
}

// Error is a problem with one of Parse's two strings.
type Error struct {
	Field string // "start" or "length"
	Value string
	Msg   string // what is wrong and what to write instead
}

func (e *Error) Error() string { return "reboot window " + e.Field + ": " + e.Problem() }

// Problem is the message without the field's name: the quoted value and
// what is wrong with it, or "missing: ..." for an empty value.
func (e *Error) Problem() string {
	if e.Value == "" {
		return e.Msg
	}
	return fmt.Sprintf("%q %s", e.Value, e.Msg)
}

var days = map[string]time.Weekday{
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
	"sun": time.Sunday, "sunday": time.Sunday,
}

const (
	startHelp  = `(want "HH:MM" for every day or "Day HH:MM" for one day a week, 24-hour UTC, e.g. "Thu 04:00" or "04:00")`
	lengthHelp = `(want e.g. "1h" or "90m")`
)

// Parse reads a window: start is "HH:MM" (every day) or "Day HH:MM" (Day
// is Mon..Sun, in any case, as three letters or the full English name),
// 24-hour and UTC; length is a Go duration above 0 and at most a week.
// Its error joins (errors.Join) an *Error for each bad field.
func Parse(start, length string) (Window, error) {
	var w Window
	var errs []error
	if err := w.parseStart(start); err != nil {
		errs = append(errs, err)
	}
	if err := w.parseLength(length); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Window{}, errors.Join(errs...)
	}
	return w, nil
}

func (w *Window) parseStart(s string) error {
	if s == "" {
		return &Error{Field: "start", Msg: "missing: say when the window opens " + startHelp}
	}
	clock := s
	w.daily = true
	if d, c, ok := strings.Cut(s, " "); ok {
		wd, known := days[strings.ToLower(d)]
		if !known {
			return &Error{Field: "start", Value: s, Msg: fmt.Sprintf("does not start with a day of the week: %q is none of Mon, Tue, Wed, Thu, Fri, Sat, Sun (or the full names) %s", d, startHelp)}
		}
		w.daily, w.day, clock = false, wd, c
	}
	h, m, ok := hhmm(clock)
	if !ok {
		return &Error{Field: "start", Value: s, Msg: "is not a time of day " + startHelp}
	}
	w.start = time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	return nil
}

// hhmm reads exactly two digits, ':' and two digits, 00:00 to 23:59.
func hhmm(s string) (h, m int, ok bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, false
		}
	}
	h = int(s[0]-'0')*10 + int(s[1]-'0')
	m = int(s[3]-'0')*10 + int(s[4]-'0')
	return h, m, h < 24 && m < 60
}

func (w *Window) parseLength(s string) error {
	if s == "" {
		return &Error{Field: "length", Msg: "missing: say how long the window stays open " + lengthHelp}
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return &Error{Field: "length", Value: s, Msg: "is not a Go duration " + lengthHelp}
	case d <= 0:
		return &Error{Field: "length", Value: s, Msg: "is not above zero " + lengthHelp}
	case d > MaxLength:
		return &Error{Field: "length", Value: s, Msg: "is longer than a week (168h), the most a window can be"}
	}
	w.length = d
	return nil
}

// period is how often the window repeats.
func (w Window) period() time.Duration {
	if w.daily {
		return day
	}
	return week
}

// since is how long ago the window last opened, in [0, period).
func (w Window) since(t time.Time) time.Duration {
	t = t.UTC()
	h, m, s := t.Clock()
	pos := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
	open := w.start
	if !w.daily {
		pos += time.Duration(t.Weekday()) * day
		open += time.Duration(w.day) * day
	}
	d := (pos - open) % w.period()
	if d < 0 {
		d += w.period()
	}
	return d
}

// Contains reports whether t is inside the window: at or after an opening
// and before that opening plus the length.
func (w Window) Contains(t time.Time) bool {
	return w.length > 0 && w.since(t) < w.length
}

// Next is the start of the window at or after t: t itself when t is inside
// the window, else the next opening (in t's location).
func (w Window) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	return t.Add(w.period() - w.since(t))
}

// String is the window as "Thu 04:00 +1h", or "04:00 +1h30m" every day.
func (w Window) String() string {
	s := fmt.Sprintf("%02d:%02d +%s", int(w.start/time.Hour), int(w.start%time.Hour/time.Minute), shortDuration(w.length))
	if w.daily {
		return s
	}
	return w.day.String()[:3] + " " + s
}

// shortDuration is d.String() without zero minutes and seconds: 1h, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
