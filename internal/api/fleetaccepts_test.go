package api_test

import (
	"net/http"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// TestFleetAccepts: units fleet accepts are accepted over the API as well
// (checked against fleet's job/job.go, machine/state.go and PR #1571).
func TestFleetAccepts(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"foo@bar@baz.service", nil},
		{"xf-global-conf.service", []string{"X-Fleet|Global=true", "X-Fleet|Conflicts=web*"}},
		{"md@.service", []string{"X-Fleet|MachineMetadata=region=%i"}},
		{"xf-md.service", []string{"X-Fleet|MachineMetadata=region foo= =x a=b=c"}},
		{"xf-short.service", []string{"X-Fleet|MachineID=0123abcd"}},
		{"xf-boot.service", []string{"X-Fleet|X-ConditionMachineBootID=abc"}},
		{"xf-repl.service", []string{"X-Fleet|Replaces=old@*.service"}},
	} {
		e.mustPut(tc.name, schema.Unit{Options: service(tc.extra...), DesiredState: "inactive"}, "", http.StatusCreated)
	}
}
