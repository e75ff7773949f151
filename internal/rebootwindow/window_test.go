package rebootwindow

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// at is a UTC time; 2026-11-23 is a Monday, 2026-11-26 a Thursday.
func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustParse(t testing.TB, start, length string) Window {
	t.Helper()
	w, err := Parse(start, length)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		start, length, want string
	}{
		{"Thu 04:00", "1h", "Thu 04:00 +1h"},
		{"thu 04:00", "60m", "Thu 04:00 +1h"},
		{"THURSDAY 04:00", "1h30m", "Thu 04:00 +1h30m"},
		{"Sunday 23:59", "168h", "Sun 23:59 +168h"},
		{"mOn 00:00", "1s", "Mon 00:00 +1s"},
		{"00:00", "24h", "00:00 +24h"},
		{"23:30", "90m", "23:30 +1h30m"},
		{"12:05", "1m30s", "12:05 +1m30s"},
		{"04:00", "500ms", "04:00 +500ms"},
	} {
		w, err := Parse(c.start, c.length)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", c.start, c.length, err)
			continue
		}
		if got := w.String(); got != c.want {
			t.Errorf("Parse(%q, %q) = %s, want %s", c.start, c.length, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		start, length string
		want          []string // "field: substring" for each *Error, in order
	}{
		{"", "", []string{"start: missing: say when the window opens", "length: missing: say how long"}},
		{"Thu 04:00", "", []string{"length: missing"}},
		{"", "1h", []string{"start: missing"}},
		{"Thu 4:00", "1h", []string{`start: "Thu 4:00" is not a time of day (want "HH:MM" for every day or "Day HH:MM"`}},
		{"4am", "1h", []string{`start: "4am" is not a time of day`}},
		{"24:00", "1h", []string{`start: "24:00" is not a time of day`}},
		{"23:60", "1h", []string{`start: "23:60" is not a time of day`}},
		{"04-00", "1h", []string{`start: "04-00" is not a time of day`}},
		{"04:00:00", "1h", []string{`start: "04:00:00" is not a time of day`}},
		{"Th 04:00", "1h", []string{`start: "Th 04:00" does not start with a day of the week: "Th" is none of Mon`}},
		{"Donnerstag 04:00", "1h", []string{`"Donnerstag" is none of`}},
		{"Thu  04:00", "1h", []string{`start: "Thu  04:00" is not a time of day`}},
		{" 04:00", "1h", []string{`start: " 04:00" does not start with a day`}},
		{"04:00 Thu", "1h", []string{`start: "04:00 Thu" does not start with a day`}},
		{"Thu 04:00", "1 hour", []string{`length: "1 hour" is not a Go duration (want e.g. "1h" or "90m")`}},
		{"Thu 04:00", "0s", []string{`length: "0s" is not above zero`}},
		{"Thu 04:00", "-1h", []string{`length: "-1h" is not above zero`}},
		{"Thu 04:00", "168h0m1s", []string{`length: "168h0m1s" is longer than a week (168h)`}},
		{"Fri 25:00", "8d", []string{`start: "Fri 25:00"`, `length: "8d" is not a Go duration`}},
	} {
		_, err := Parse(c.start, c.length)
		if err == nil {
			t.Errorf("Parse(%q, %q): no error, want %q", c.start, c.length, c.want)
			continue
		}
		var got []*Error
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var pe *Error
			if !errors.As(e, &pe) {
				t.Fatalf("%v is not an *Error", e)
			}
			got = append(got, pe)
		}
		if len(got) != len(c.want) {
			t.Errorf("Parse(%q, %q): %d errors, want %d: %v", c.start, c.length, len(got), len(c.want), err)
			continue
		}
		for i, w := range c.want {
			s := got[i].Field + ": " + got[i].Problem()
			if !strings.Contains(s, w) {
				t.Errorf("Parse(%q, %q): error %d is\n%s\nwant it to contain\n%s", c.start, c.length, i, s, w)
			}
			if !strings.HasPrefix(got[i].Error(), "reboot window "+got[i].Field+": ") {
				t.Errorf("Error() = %q", got[i].Error())
			}
		}
	}
}

func TestContainsAndNext(t *testing.T) {
	for _, c := range []struct {
		start, length string
		t             string
		in            bool
		next          string // the opening at or after t
	}{
		// Thursday 04:00 for an hour.
		{"Thu 04:00", "1h", "2026-11-26 04:00", true, "2026-11-26 04:00"},
		{"Thu 04:00", "1h", "2026-11-26 04:59", true, "2026-11-26 04:59"},
		{"Thu 04:00", "1h", "2026-11-26 05:00", false, "2026-12-03 04:00"},
		{"Thu 04:00", "1h", "2026-11-26 03:59", false, "2026-11-26 04:00"},
		{"Thu 04:00", "1h", "2026-11-23 12:00", false, "2026-11-26 04:00"},
		{"Thu 04:00", "1h", "2026-11-19 04:30", true, "2026-11-19 04:30"},
		{"Thu 04:00", "1h", "2026-11-27 04:30", false, "2026-12-03 04:00"},
		// Past midnight: Saturday 23:00 to Sunday 01:00.
		{"Sat 23:00", "2h", "2026-11-28 23:30", true, "2026-11-28 23:30"},
		{"Sat 23:00", "2h", "2026-11-29 00:59", true, "2026-11-29 00:59"},
		{"Sat 23:00", "2h", "2026-11-29 01:00", false, "2026-12-05 23:00"},
		{"Sat 23:00", "2h", "2026-11-28 22:59", false, "2026-11-28 23:00"},
		// Past Sunday into Monday: Sunday 22:00 to Monday 02:00.
		{"Sun 22:00", "4h", "2026-11-29 22:00", true, "2026-11-29 22:00"},
		{"Sun 22:00", "4h", "2026-11-30 01:30", true, "2026-11-30 01:30"},
		{"Sun 22:00", "4h", "2026-11-30 02:00", false, "2026-12-06 22:00"},
		{"Sun 22:00", "4h", "2026-11-23 01:59", true, "2026-11-23 01:59"},
		{"Sun 22:00", "4h", "2026-11-28 12:00", false, "2026-11-29 22:00"},
		// Saturday to Tuesday, across the week's end: 3 days.
		{"Sat 00:00", "72h", "2026-11-30 23:59", true, "2026-11-30 23:59"},
		{"Sat 00:00", "72h", "2026-12-01 00:00", false, "2026-12-05 00:00"},
		{"Sat 00:00", "72h", "2026-11-27 23:59", false, "2026-11-28 00:00"},
		// Every day at 02:00 for 30 minutes.
		{"02:00", "30m", "2026-11-26 02:15", true, "2026-11-26 02:15"},
		{"02:00", "30m", "2026-11-26 02:30", false, "2026-11-27 02:00"},
		{"02:00", "30m", "2026-11-26 01:00", false, "2026-11-26 02:00"},
		{"02:00", "30m", "2026-12-31 23:00", false, "2027-01-01 02:00"},
		// Every day from 23:00 to 01:00, over midnight.
		{"23:00", "2h", "2026-11-26 00:30", true, "2026-11-26 00:30"},
		{"23:00", "2h", "2026-11-26 23:00", true, "2026-11-26 23:00"},
		{"23:00", "2h", "2026-11-26 01:00", false, "2026-11-26 23:00"},
		{"23:00", "2h", "2026-11-26 22:59", false, "2026-11-26 23:00"},
		// Always open: a week, or a day every day.
		{"Wed 10:00", "168h", "2026-11-24 09:00", true, "2026-11-24 09:00"},
		{"10:00", "24h", "2026-11-24 09:59", true, "2026-11-24 09:59"},
		{"10:00", "48h", "2026-11-24 09:59", true, "2026-11-24 09:59"},
	} {
		w := mustParse(t, c.start, c.length)
		tt := at(c.t)
		if got := w.Contains(tt); got != c.in {
			t.Errorf("%s Contains(%s %s) = %v, want %v", w, tt.Weekday(), c.t, got, c.in)
		}
		if got := w.Next(tt); !got.Equal(at(c.next)) {
			t.Errorf("%s Next(%s %s) = %s %s, want %s", w, tt.Weekday(), c.t, got.Weekday(), got.Format(time.DateTime), c.next)
		}
	}
}

// TestOtherZones: a time in another zone is the same instant in UTC.
func TestOtherZones(t *testing.T) {
	w := mustParse(t, "Thu 04:00", "1h")
	zone := time.FixedZone("UTC+10", 10*3600)
	local := time.Date(2026, 11, 26, 14, 30, 0, 0, zone) // Thursday 04:30 UTC
	if !w.Contains(local) {
		t.Errorf("%s does not contain %s", w, local)
	}
	before := time.Date(2026, 11, 26, 13, 0, 0, 0, zone) // 03:00 UTC
	if got := w.Next(before); !got.Equal(at("2026-11-26 04:00")) {
		t.Errorf("Next(%s) = %s", before, got)
	}
	if (Window{}).Contains(at("2026-11-29 00:00")) {
		t.Error("the zero Window is open")
	}
}

// FuzzParseWindow checks that Parse never panics, that what it accepts
// prints as it parses back, and that Next is an instant inside the window
// no earlier than t and less than a period after it.
func FuzzParseWindow(f *testing.F) {
	for _, s := range [][2]string{
		{"Thu 04:00", "1h"}, {"sunday 22:00", "4h"}, {"00:00", "24h"}, {"23:59", "168h"},
		{"Sat 23:00", "2h"}, {"Th 4:00", "-1h"}, {"", ""}, {"Mon 99:99", "1ns"},
	} {
		f.Add(s[0], s[1], int64(1795665600))
	}
	f.Fuzz(func(t *testing.T, start, length string, unix int64) {
		w, err := Parse(start, length)
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var pe *Error
				if !errors.As(e, &pe) || (pe.Field != "start" && pe.Field != "length") {
					t.Fatalf("error %v is not a start or length *Error", e)
				}
			}
			return
		}
		s, l, ok := strings.Cut(w.String(), " +")
		if !ok {
			t.Fatalf("String() = %q", w.String())
		}
		w2, err := Parse(s, l)
		if err != nil || w2 != w {
			t.Fatalf("%q, %q: String() %q parses back to %v, %v", start, length, w, w2, err)
		}
		// Whole seconds within a few thousand years of now.
		tt := time.Unix(unix%(1<<37), 0).UTC()
		next := w.Next(tt)
		if next.Before(tt) || next.Sub(tt) >= w.period() || !w.Contains(next) {
			t.Fatalf("%s: Next(%s) = %s", w, tt, next)
		}
		if w.Contains(tt) != next.Equal(tt) {
			t.Fatalf("%s: Contains(%s) = %v but Next = %s", w, tt, w.Contains(tt), next)
		}
		if !next.Equal(tt) { // an opening: shut just before, open for length
			if w.length < w.period() && w.Contains(next.Add(-time.Nanosecond)) {
				t.Fatalf("%s: open just before it opens at %s", w, next)
			}
			if !w.Contains(next.Add(w.length - time.Nanosecond)) {
				t.Fatalf("%s: open at %s for less than its length", w, next)
			}
		}
	})
}
