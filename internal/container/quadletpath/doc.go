// Package quadletpath resolves what Quadlet resolves against a unit file's
// own directory, for the client that reads the file (fleetctl submit): a
// Volume= source starting with "." (Quadlet's handleStorageSource) and a
// relative EnvironmentFile= (getAbsolutePath). The node that runs the unit
// never sees the directory, so container.ParseQuadlet refuses a relative
// path that reaches it.
//
// It depends on internal/unit only, so that fleetctl does not link the
// container runtime.
package quadletpath
