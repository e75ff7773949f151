package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvironmentFile: EnvironmentFile= is podman's --env-file, read at
// each start: under Environment=, over the image's; "#" comments; a bare
// NAME from the environment Quadlet's unit gives podman; a missing file
// fails the start.
func TestEnvironmentFile(t *testing.T) {
	rt, ref := testRuntime(t)
	dir := t.TempDir()
	envf := filepath.Join(dir, "app.env")
	if err := os.WriteFile(envf, []byte("# settings\n  A=from file\nB=file\nPATH=/bin:/usr/bin\nFROM_SERVICE\nUNSET\nQ=\"kept\" as written\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := "[Service]\nEnvironment=FROM_SERVICE=svc\n[Container]\nImage=" + ref + "\nNetwork=none\nEnvironmentFile=" + envf +
		"\nEnvironment=B=unit\nExec=/bin/sh -c 'echo \"A=$$A B=$$B PATH=$$PATH S=$$FROM_SERVICE U=$${UNSET-unset} Q=$$Q\"'\n"
	cs := quadletSpec(t, "env.service", body)
	out, _ := runContainer(t, rt, "env.service", cs)
	want := `A=from file B=unit PATH=/bin:/usr/bin S=svc U=unset Q="kept" as written`
	if !strings.Contains(out, want) {
		t.Errorf("output %q, want %q", out, want)
	}
	// Read at each start.
	os.WriteFile(envf, []byte("A=changed\n"), 0o600)
	if out, _ := runContainer(t, rt, "env.service", cs); !strings.Contains(out, "A=changed") {
		t.Errorf("after changing the file: %q", out)
	}
	os.Remove(envf)
	if _, err := rt.Prepare(t.Context(), "env.service", cs); err == nil || !strings.Contains(err.Error(), envf) {
		t.Errorf("missing file: %v, want an error naming %s", err, envf)
	}
}
