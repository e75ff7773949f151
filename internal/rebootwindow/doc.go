// Package rebootwindow is the reboot window of an OS update, as CoreOS
// locksmith had it (REBOOT_WINDOW_START, REBOOT_WINDOW_LENGTH): a weekly or
// daily span of time, in UTC, in which a node may take the reboot lock and
// so drain and reboot.
//
// Parse reads the two strings of update.reboot_window in the first-boot
// config (internal/bootconfig): a start, "Thu 04:00" (weekly) or "04:00"
// (every day), and a length, a Go duration of at most a week. A Window
// answers whether an instant is inside it (Contains) and when it next opens
// (Next). A window may wrap past midnight or past Sunday into Monday.
//
// Times are UTC: a node has no time zone data. The package is pure: it
// reads no clock and sleeps nowhere; internal/updater's Daemon does both.
package rebootwindow
