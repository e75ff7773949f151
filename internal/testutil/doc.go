// Package testutil holds the small helpers that tests share: polling until
// a condition holds (Eventually, EventuallyEvery, WaitFor) and a buffer that
// one goroutine writes while the test reads it (Buffer).
//
// It sits beside testenv rather than inside it: testenv decides whether a
// test runs at all (root, FLOTILLA_SLOW, host tools) and skips with a
// reason; testutil helps a test that runs. Keeping the gates alone in
// testenv keeps that package the one place to read to learn what a test
// needs from its host.
//
// It imports nothing of Flotilla's and must not: every package's tests, and
// the non-test harnesses (clustertest, bench), may use it.
package testutil
