package container

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func parseQuadlet(t *testing.T, body string, o ParseOptions) (*Spec, []string, error) {
	t.Helper()
	f, err := unit.Parse("c@1.service", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if o.Specifiers.Name == "" {
		o.Specifiers = unit.Specifiers{Name: "c@1.service", MachineID: "m1", Hostname: "node1"}
	}
	return ParseQuadlet("c@1.service", f, o)
}

func TestParseQuadlet(t *testing.T) {
	cs, warnings, err := parseQuadlet(t, `[Container]
Image=docker.io/library/redis:7
Exec=redis-server --dir /data/%i "a b" $$HOME
Environment=HOST=%H "B=two words"
Volume=/srv/data:/data:ro
Network=none
Pull=always
[Service]
MemoryMax=64M
`, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"redis-server", "--dir", "/data/1", "a b", "$HOME"}; !reflect.DeepEqual(cs.Exec, want) {
		t.Errorf("Exec = %q, want %q", cs.Exec, want)
	}
	if want := []string{"HOST=node1", "B=two words"}; !reflect.DeepEqual(cs.Env, want) {
		t.Errorf("Env = %q, want %q", cs.Env, want)
	}
	if want := []Volume{{Source: "/srv/data", Target: "/data", ReadOnly: true}}; !reflect.DeepEqual(cs.Volumes, want) {
		t.Errorf("Volumes = %+v, want %+v", cs.Volumes, want)
	}
	if cs.Network != NetworkNone || cs.Resources.MemoryMax != 64<<20 {
		t.Errorf("Network %q, Resources %+v", cs.Network, cs.Resources)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings = %q, want one for Pull=", warnings)
	}
}

func TestParseQuadletNone(t *testing.T) {
	cs, _, err := parseQuadlet(t, "[Service]\nExecStart=/bin/true\n", ParseOptions{})
	if err != nil || cs != nil {
		t.Fatalf("no [Container]: %+v, %v", cs, err)
	}
	_, _, err = parseQuadlet(t, "[Service]\nExecStart=/bin/true\nMemoryMax=1G\n", ParseOptions{})
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Field != "MemoryMax" {
		t.Fatalf("resource key without [Container]: %v", err)
	}
}

func TestParseQuadletErrors(t *testing.T) {
	for body, field := range map[string]string{
		"[Container]\nExec=x\n":                                    "Image",
		"[Container]\nImage=i\nNetwork=overlay\n":                  "Network",
		"[Container]\nImage=i\nBogus=1\n":                          "Bogus",
		"[Container]\nImage=i\nExec=%Z\n":                          "Exec",
		"[Container]\nImage=i\nSeccompProfile=/nonexistent.json\n": "SeccompProfile",
	} {
		_, _, err := parseQuadlet(t, body, ParseOptions{})
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Field != field || ue.Section != "Container" {
			t.Errorf("%q: error %v, want one naming [Container] %s", body, err, field)
		}
	}
}

// TestParseQuadletSubmit: at submit the seccomp profile, a file on the
// node that will run the unit, is not read; only its path is checked.
func TestParseQuadletSubmit(t *testing.T) {
	o := ParseOptions{Specifiers: unit.SubmitSpecifiers("c@1.service"), Submit: true}
	cs, _, err := parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile=/nonexistent.json\n", o)
	if err != nil || cs.Seccomp != nil {
		t.Fatalf("submit: %+v, %v", cs, err)
	}
	if _, _, err := parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile=rel.json\n", o); err == nil {
		t.Fatal("submit: a relative profile path passed")
	}
	cs, _, err = parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile="+seccomp.UnconfinedName+"\n", o)
	if err != nil || cs.Seccomp != seccomp.Unconfined {
		t.Fatalf("unconfined: %+v, %v", cs, err)
	}
}

// TestParseQuadletSpecifiers: specifiers expand in every [Container] key,
// as systemd expands them in the podman command line Quadlet writes.
func TestParseQuadletSpecifiers(t *testing.T) {
	body := `[Container]
Image=registry.local/%p:%i
Volume=/srv/%i:/data
Volume=/srv/%p/%i/logs:/logs:ro
WorkingDir=/work/%i
HostName=%p-%i
User=%i
Group=%i
Environment=UNIT=%n MACHINE=%m
Exec=serve --name %N
Entrypoint=/bin/%p
`
	o := ParseOptions{Specifiers: unit.Specifiers{Name: "web@blue.service", MachineID: "m1", Hostname: "node1"}}
	f, err := unit.Parse("web@blue.service", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := ParseQuadlet("web@blue.service", f, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, got, want string }{
		{"Image", cs.Image, "registry.local/web:blue"},
		{"Volume", cs.Volumes[0].Source, "/srv/blue"},
		{"Volume 2", cs.Volumes[1].Source, "/srv/web/blue/logs"},
		{"WorkingDir", cs.WorkingDir, "/work/blue"},
		{"HostName", cs.HostName, "web-blue"},
		{"User", cs.User, "blue"},
		{"Group", cs.Group, "blue"},
		{"Environment", strings.Join(cs.Env, " "), "UNIT=web@blue.service MACHINE=m1"},
		{"Exec", strings.Join(cs.Exec, " "), "serve --name web@blue"},
		{"Entrypoint", strings.Join(cs.Entrypoint, " "), "/bin/web"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
		}
	}
	// PublishPort= and Network= are checked after expansion, at submit
	// as on the node.
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"p@8080.service", "PublishPort=%i:80", true},
		{"p@x.service", "PublishPort=%i:80", false},
		{"n@host.service", "Network=%i", true},
		{"n@overlay.service", "Network=%i", false},
		{"v@data.service", "Volume=%i:/data", true},
		{"u@auto.service", "UserNS=%i", true},
	} {
		f, err := unit.Parse(tc.name, []byte("[Container]\nImage=i\n"+tc.body+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ParseQuadlet(tc.name, f, ParseOptions{Specifiers: unit.SubmitSpecifiers(tc.name), Submit: true})
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: err %v, want ok=%v", tc.name, tc.body, err, tc.ok)
		}
	}
}

// TestParseQuadletHomeVolume: Volume=%h/... binds below the home of the
// unit's user (root's for a system service, as Quadlet's system units),
// once the expander knows %h.
func TestParseQuadletHomeVolume(t *testing.T) {
	sp := unit.SubmitSpecifiers("c.service")
	home, err := sp.Lookup('h')
	if err != nil {
		t.Skipf("the specifier expander has no %%h yet: %v", err)
	}
	cs, _, err := parseQuadlet(t, "[Container]\nImage=i\nVolume=%h/cfg:/cfg\n", ParseOptions{Specifiers: sp})
	if err != nil || len(cs.Volumes) != 1 || cs.Volumes[0].Source != home+"/cfg" || !filepath.IsAbs(cs.Volumes[0].Source) {
		t.Fatalf("Volume=%%h/cfg:/cfg: %+v, %v; want a bind of %s/cfg", cs, err, home)
	}
}

// TestParseQuadletValues: values read as Quadlet reads them (checked
// against podman's pkg/systemd/quadlet and its test/e2e/quadlet fixtures).
func TestParseQuadletValues(t *testing.T) {
	for _, tc := range []struct {
		body  string
		check func(cs *Spec) bool
	}{
		// entrypoint.container: "--entrypoint=top -b", one word.
		{"Entrypoint=top -b", func(cs *Spec) bool { return reflect.DeepEqual(cs.Entrypoint, []string{"top -b"}) }},
		// entrypoint-empty.container: "--entrypoint=" clears the image's.
		{"Entrypoint=", func(cs *Spec) bool { return cs.Entrypoint != nil && len(cs.Entrypoint) == 0 }},
		{"Entrypoint=/x\nEntrypoint=", func(cs *Spec) bool { return cs.Entrypoint != nil && len(cs.Entrypoint) == 0 }},
		{`Entrypoint=["/bin/sh", "-c"]`, func(cs *Spec) bool { return reflect.DeepEqual(cs.Entrypoint, []string{"/bin/sh", "-c"}) }},
		{`Entrypoint=[]`, func(cs *Spec) bool { return cs.Entrypoint == nil }},
		{`Entrypoint=[""]`, func(cs *Spec) bool { return cs.Entrypoint != nil && len(cs.Entrypoint) == 0 }},
		{`Entrypoint=["/bin/sh", `, func(cs *Spec) bool { return reflect.DeepEqual(cs.Entrypoint, []string{`["/bin/sh",`}) }},
		{`Entrypoint="top -b"`, func(cs *Spec) bool { return reflect.DeepEqual(cs.Entrypoint, []string{"top -b"}) }},
		{`Entrypoint=/bin/$${X}`, func(cs *Spec) bool { return reflect.DeepEqual(cs.Entrypoint, []string{"/bin/${X}"}) }},
		// Lookup strips one pair of surrounding double quotes.
		{`Image="localhost/x"`, func(cs *Spec) bool { return cs.Image == "localhost/x" }},
		{`Image="localhost/x`, func(cs *Spec) bool { return cs.Image == `"localhost/x` }},
		{`WorkingDir="/a b"`, func(cs *Spec) bool { return cs.WorkingDir == "/a b" }},
		{`User="app"`, func(cs *Spec) bool { return cs.User == "app" }},
		{"ReadOnly=yes", func(cs *Spec) bool { return cs.ReadOnly && cs.ReadOnlyTmpfs }},
		{"ReadOnly=yes\nReadOnlyTmpfs=no", func(cs *Spec) bool { return cs.ReadOnly && !cs.ReadOnlyTmpfs }},
		{"VolatileTmp=yes", func(cs *Spec) bool { return cs.VolatileTmp }},
		{"ReadOnly=yes\nReadOnly=\nReadOnlyTmpfs=no\nReadOnlyTmpfs=", func(cs *Spec) bool { return !cs.ReadOnly && cs.ReadOnlyTmpfs }},
		{"Memory=1g\nMemory=\nPidsLimit=5\nPidsLimit=", func(cs *Spec) bool { return cs.Resources.MemoryMax == 0 && cs.Resources.TasksMax == 0 }},
		// An empty value empties a list key (LookupAll).
		{"Environment=A=1\nEnvironment=\nEnvironment=B=2", func(cs *Spec) bool { return reflect.DeepEqual(cs.Env, []string{"B=2"}) }},
		{"Volume=/a:/a\nVolume=\nVolume=/b:/b", func(cs *Spec) bool { return len(cs.Volumes) == 1 && cs.Volumes[0].Source == "/b" }},
		{"PublishPort=80\nPublishPort=", func(cs *Spec) bool { return cs.PublishPorts == nil }},
		{"AddCapability=NET_ADMIN\nAddCapability=", func(cs *Spec) bool { return cs.AddCaps == nil }},
		{"Network=host\nNetwork=", func(cs *Spec) bool { return cs.Network == "" }},
		{"Network=private", func(cs *Spec) bool { return cs.Network == NetworkBridge }},
		// Bare NAME: podman's --env NAME, from the environment the
		// generated service gives podman; dropped when unset there.
		{"Environment=FOO BAR=1 MISSING\n[Service]\nEnvironment=FOO=from-service", func(cs *Spec) bool {
			return reflect.DeepEqual(cs.Env, []string{"FOO=from-service", "BAR=1"})
		}},
		{"Environment=A=1\nEnvironment=B='open", func(cs *Spec) bool { return reflect.DeepEqual(cs.Env, []string{"A=1"}) }},
		{"Environment=PODMAN_SYSTEMD_UNIT", func(cs *Spec) bool { return reflect.DeepEqual(cs.Env, []string{"PODMAN_SYSTEMD_UNIT=c@1.service"}) }},
		// Volume= forms.
		{"Volume=data:/var/lib/data", func(cs *Spec) bool {
			return reflect.DeepEqual(cs.Volumes, []Volume{{Name: "data", Target: "/var/lib/data"}})
		}},
		{"Volume=/scratch", func(cs *Spec) bool { return reflect.DeepEqual(cs.Volumes, []Volume{{Target: "/scratch"}}) }},
		{"Volume=data:/d:ro,nocopy", func(cs *Spec) bool {
			return reflect.DeepEqual(cs.Volumes, []Volume{{Name: "data", Target: "/d", ReadOnly: true, NoCopy: true}})
		}},
		{"Volume=/h:/c:z", func(cs *Spec) bool { return reflect.DeepEqual(cs.Volumes, []Volume{{Source: "/h", Target: "/c"}}) }},
		// UserNS=.
		{"UserNS=auto", func(cs *Spec) bool { return cs.UserNS }},
		{"UserNS=auto:size=1000", func(cs *Spec) bool { return cs.UserNS }},
		{"RemapUsers=auto", func(cs *Spec) bool { return cs.UserNS }},
		{"AppArmor=unconfined", func(cs *Spec) bool { return true }},
		// Memory= and PidsLimit= (podman's --memory, --pids-limit) and
		// systemd's keys: the lower limit holds.
		{"Memory=512m", func(cs *Spec) bool { return cs.Resources.MemoryMax == 512<<20 }},
		{"Memory=1g\n[Service]\nMemoryMax=64M", func(cs *Spec) bool { return cs.Resources.MemoryMax == 64<<20 }},
		{"Memory=1.5k", func(cs *Spec) bool { return cs.Resources.MemoryMax == 1536 }},
		{"Memory=100", func(cs *Spec) bool { return cs.Resources.MemoryMax == 100 }},
		{"PidsLimit=100\n[Service]\nTasksMax=200", func(cs *Spec) bool { return cs.Resources.TasksMax == 100 }},
		{"PidsLimit=-1\n[Service]\nTasksMax=200", func(cs *Spec) bool { return cs.Resources.TasksMax == 200 }},
		{"Tmpfs=/run/app:mode=0700,size=1m,exec\nTmpfs=/cache", func(cs *Spec) bool {
			return reflect.DeepEqual(cs.Tmpfs, []Tmpfs{{Target: "/run/app", Mode: "0700", Size: "1m"}, {Target: "/cache", NoExec: true}})
		}},
		{"Tmpfs=/a\nTmpfs=", func(cs *Spec) bool { return cs.Tmpfs == nil }},
		{"AddDevice=/dev/fuse -/dev/kvm:r", func(cs *Spec) bool {
			return len(cs.Devices) == 2 && cs.Devices[1].Optional && cs.Devices[1].Access == "r"
		}},
		{"AddDevice=/dev/fuse\nAddDevice=", func(cs *Spec) bool { return cs.Devices == nil }},
		{"EnvironmentFile=/etc/a.env \"/etc/b c.env\"\nEnvironmentFile=/x/%i.env", func(cs *Spec) bool {
			return reflect.DeepEqual(cs.EnvFiles, []string{"/etc/a.env", "/etc/b c.env", "/x/1.env"})
		}},
		{"EnvironmentFile=/etc/a.env\nEnvironmentFile=", func(cs *Spec) bool { return cs.EnvFiles == nil }},
		{"NoNewPrivileges=no", func(cs *Spec) bool { return true }},
	} {
		cs, _, err := parseQuadlet(t, "[Container]\nImage=i\n"+tc.body+"\n", ParseOptions{})
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if !tc.check(cs) {
			t.Errorf("%q: got %+v", tc.body, cs)
		}
	}
}

// TestParseQuadletWarns: Quadlet keys Flotilla does not implement warn, as
// the README promises, and the unit runs; those that would leave the
// container less confined than asked are refused, naming why.
func TestParseQuadletWarns(t *testing.T) {
	for _, key := range []string{"AppArmor=", "HttpProxy=false", "VolatileTmp=no", "ServiceName=x", "RemapUsers=",
		"HealthStartupCmd=/bin/true", "HealthStartupInterval=1s", "HealthStartupRetries=3", "HealthStartupSuccess=1",
		"HealthStartupTimeout=1s", "HealthLogDestination=local", "HealthMaxLogCount=5", "HealthMaxLogSize=500",
		"PodmanArgs=--foo", "Label=a=b", "Unmask=ALL", "Ulimit=nofile=10"} {
		cs, _, err := parseQuadlet(t, "[Container]\nImage=i\n"+key+"\n", ParseOptions{})
		if err != nil || cs == nil {
			t.Errorf("%s: %v, want accepted", key, err)
		}
	}
	_, warnings, err := parseQuadlet(t, "[Container]\nImage=i\nHealthMaxLogSize=500\nServiceName=x\nNoNewPrivileges=no\nUserNS=auto:size=10\n", ParseOptions{})
	if err != nil || len(warnings) != 4 {
		t.Errorf("warnings %q (%v), want four", warnings, err)
	}
	for body, field := range map[string]string{
		"UIDMap=0:10000:10":                        "UIDMap",
		"GIDMap=0:10000:10":                        "GIDMap",
		"SubUIDMap=app":                            "SubUIDMap",
		"SubGIDMap=app":                            "SubGIDMap",
		"Mask=/proc/x":                             "Mask",
		"AppArmor=my-profile":                      "AppArmor",
		"UserNS=keep-id":                           "UserNS",
		"UserNS=keep-id:uid=200":                   "UserNS",
		"UserNS=nomap":                             "UserNS",
		"RemapUsers=keep-id":                       "RemapUsers",
		"RemapUsers=manual":                        "RemapUsers",
		"RemapUid=0:1000:10":                       "RemapUid",
		"RemapUsers=auto\nUserNS=auto":             "RemapUsers",
		"Group=g":                                  "Group",
		"Volume=./rel:/x":                          "Volume",
		"Volume=../rel:/x":                         "Volume",
		"Volume=data.volume:/x":                    "Volume",
		"Volume=bad/name:/x":                       "Volume",
		"Volume=data:rel":                          "Volume",
		"Volume=/a:/":                              "Volume",
		"Volume=/a:/b:U":                           "Volume",
		"Environment==x":                           "Environment",
		"Rootfs=/srv/root":                         "Rootfs",
		"PodmanArgs=--cap-drop=all":                "PodmanArgs",
		"PodmanArgs=--log-level debug --read-only": "PodmanArgs",
		"Memory=lots":                              "Memory",
		"Memory=-1":                                "Memory",
		"Memory=1e9":                               "Memory",
		"PidsLimit=many":                           "PidsLimit",
		"Tmpfs=rel":                                "Tmpfs",
		"Tmpfs=/x:suid":                            "Tmpfs",
		"Tmpfs=/x:mode=9":                          "Tmpfs",
	} {
		_, _, err := parseQuadlet(t, "[Container]\nImage=i\n"+body+"\n", ParseOptions{})
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Field != field || ue.Section != "Container" {
			t.Errorf("%q: error %v, want one naming [Container] %s", body, err, field)
		}
	}
}

// quadletContainerKeys are the [Container] keys of Podman's Quadlet
// (pkg/systemd/quadlet/quadlet.go, groupsInfo[ContainerGroup], plus
// AppArmor= and HttpProxy= of later releases).
var quadletContainerKeys = []string{"AddCapability", "AddDevice", "AddHost", "Annotation", "AppArmor", "AutoUpdate",
	"CgroupsMode", "ContainerName", "ContainersConfModule", "DNS", "DNSOption", "DNSSearch", "DropCapability",
	"Entrypoint", "Environment", "EnvironmentFile", "EnvironmentHost", "Exec", "ExposeHostPort", "GIDMap",
	"GlobalArgs", "Group", "GroupAdd", "HealthCmd", "HealthInterval", "HealthLogDestination", "HealthMaxLogCount",
	"HealthMaxLogSize", "HealthOnFailure", "HealthRetries", "HealthStartPeriod", "HealthStartupCmd",
	"HealthStartupInterval", "HealthStartupRetries", "HealthStartupSuccess", "HealthStartupTimeout", "HealthTimeout",
	"HostName", "HttpProxy", "IP", "IP6", "Image", "Label", "LogDriver", "LogOpt", "Mask", "Memory", "Mount",
	"Network", "NetworkAlias", "NoNewPrivileges", "Notify", "PidsLimit", "Pod", "PodmanArgs", "PublishPort", "Pull",
	"ReadOnly", "ReadOnlyTmpfs", "ReloadCmd", "ReloadSignal", "RemapGid", "RemapUid", "RemapUidSize", "RemapUsers",
	"Retry", "RetryDelay", "Rootfs", "RunInit", "SeccompProfile", "Secret", "SecurityLabelDisable",
	"SecurityLabelFileType", "SecurityLabelLevel", "SecurityLabelNested", "SecurityLabelType", "ServiceName",
	"ShmSize", "StartWithPod", "StopSignal", "StopTimeout", "SubGIDMap", "SubUIDMap", "Sysctl", "Timezone", "Tmpfs",
	"UIDMap", "Ulimit", "Unmask", "User", "UserNS", "VolatileTmp", "Volume", "WorkingDir"}

// TestQuadletKeysClassified: every Quadlet [Container] key is implemented,
// warns, or is refused for a stated reason: none is an unknown-key error.
func TestQuadletKeysClassified(t *testing.T) {
	for _, k := range quadletContainerKeys {
		_, impl := containerKeys[k]
		_, refused := quadletRefused[k]
		n := 0
		for _, b := range []bool{impl, quadletUnsupported[k], refused} {
			if b {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: implemented %v, warns %v, refused %v; want exactly one", k, impl, quadletUnsupported[k], refused)
		}
	}
}
