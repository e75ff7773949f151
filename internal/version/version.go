package version

// Version is the running Flotilla version.
var Version = "0.1.0-dev"
