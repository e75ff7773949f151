// Package testenv holds the environment gates for tests, in one place.
// Every gate skips with a reason; none returns silently. CI (.ci/run) runs as
// root with FLOTILLA_SLOW=1, so every gated test runs there.
package testenv
