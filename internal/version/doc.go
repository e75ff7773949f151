// Package version holds the Flotilla version of every binary, set at build
// time with -ldflags "-X github.com/flotilla-os/flotilla/internal/version.Version=1.2.0".
package version
