// Package health holds what a unit's health check means, apart from how
// it runs: the settings (Podman's HealthCmd, HealthInterval, HealthTimeout,
// HealthRetries, HealthStartPeriod, HealthOnFailure and their defaults,
// and the [X-Fleet] HealthCheck= probe of a plain unit), the verdict state
// machine (Tracker), the HTTP and TCP probes, and Monitor, the loop that
// runs a check at its interval and reports only changes of verdict.
//
// The verdicts use Podman's words: starting until the first passing check
// (failures inside the start period do not count), healthy, and unhealthy
// after Retries consecutive failures outside the start period. A passing
// check resets the count. A check that runs past its timeout fails.
//
// A Monitor sleeps on one timer between checks, so a unit with a check
// wakes the CPU once per interval, and a unit without one costs nothing.
package health
