package bootconfig

import (
	"reflect"
	"time"

	"github.com/flotilla-os/flotilla/internal/rebootwindow"
)

// Defaults the document leaves out.
const (
	DefaultUpdateInterval = time.Hour
	DefaultChannel        = "stable"
)

// DefaultHostname is the hostname of a node whose config sets none:
// "flotilla-" and the first 8 characters of its machine ID.
func DefaultHostname(machineID string) string {
	if len(machineID) > 8 {
		machineID = machineID[:8]
	}
	return "flotilla-" + machineID
}

// MemberName is this node's etcd member name: cluster.name, else the
// hostname; "" when neither is set (init then uses the hostname it chose).
func (c *Config) MemberName() string {
	if c.Cluster.Name != "" {
		return c.Cluster.Name
	}
	return c.Hostname
}

// IsMember reports whether this node runs an etcd member, which it does
// unless cluster.role is "client".
func (c *Config) IsMember() bool { return c.Cluster.Role != "client" }

// UpdateInterval is update.interval, or DefaultUpdateInterval when unset or
// invalid (Validate reports the latter).
func (c *Config) UpdateInterval() time.Duration {
	if c.Update == nil || c.Update.Interval == "" {
		return DefaultUpdateInterval
	}
	d, err := time.ParseDuration(c.Update.Interval)
	if err != nil || d < time.Second {
		return DefaultUpdateInterval
	}
	return d
}

// UpdateChannel is update.channel, or DefaultChannel.
func (c *Config) UpdateChannel() string {
	if c.Update == nil || c.Update.Channel == "" {
		return DefaultChannel
	}
	return c.Update.Channel
}

// RebootWindow is update.reboot_window as a window, or nil (reboot at any
// time) when unset or invalid (Validate reports the latter).
func (c *Config) RebootWindow() *rebootwindow.Window {
	if c.Update == nil || c.Update.RebootWindow == nil {
		return nil
	}
	w, err := rebootwindow.Parse(c.Update.RebootWindow.Start, c.Update.RebootWindow.Length)
	if err != nil {
		return nil
	}
	return &w
}

// ShouldStart reports whether the unit is started after it is submitted:
// start defaults to true.
func (u *Unit) ShouldStart() bool { return u.Start == nil || *u.Start }

// IsZero reports whether n sets nothing, so that Marshal leaves it out
// (json omitzero); an empty list counts as unset.
func (n Network) IsZero() bool { return isEmpty(reflect.ValueOf(n)) }

// IsZero reports whether c sets nothing, so that Marshal leaves it out.
func (c Cluster) IsZero() bool { return isEmpty(reflect.ValueOf(c)) }

// isEmpty is omitempty's idea of empty, applied to every field of a struct.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if !isEmpty(v.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}
