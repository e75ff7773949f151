package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// run evaluates f on a syscall as the kernel would see it. x/net/bpf's VM
// loads words big-endian, so each 32-bit word of struct seccomp_data is
// written big-endian at the offset the kernel's native load reads it from.
func run(t *testing.T, f *Filter, a *arch.Info, nr uint32, args ...uint64) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(f.Instructions())
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	d := make([]byte, 64)
	binary.BigEndian.PutUint32(d[0:], nr)
	binary.BigEndian.PutUint32(d[4:], uint32(a.ID))
	for i, v := range args {
		binary.BigEndian.PutUint32(d[argOffset+8*i:], uint32(v))
		binary.BigEndian.PutUint32(d[argOffset+8*i+4:], uint32(v>>32))
	}
	r, err := vm.Run(d)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return uint32(r)
}

// call evaluates the named syscall of architecture a.
func call(t *testing.T, f *Filter, a *arch.Info, name string, args ...uint64) uint32 {
	t.Helper()
	nr, ok := a.SyscallNames[name]
	if !ok {
		t.Fatalf("%s has no syscall %s", a.Name, name)
	}
	return run(t, f, a, uint32(nr|a.SeccompMask), args...)
}

func retName(r uint32) string {
	switch r & unix.SECCOMP_RET_ACTION_FULL {
	case retAllow:
		return "allow"
	case retErrno:
		return fmt.Sprintf("errno %d", r&unix.SECCOMP_RET_DATA)
	case retKillThread:
		return "kill-thread"
	case retKillProcess:
		return "kill-process"
	}
	return fmt.Sprintf("%#x", r)
}

var (
	eperm  = retErrno | uint32(unix.EPERM)
	enosys = retErrno | uint32(unix.ENOSYS)
)

const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

func needAmd64(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the expected syscall numbers are x86_64's")
	}
}

func TestDefaultProfileArguments(t *testing.T) {
	needAmd64(t)
	f, err := Default().Filter(dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	withAdmin, err := Default().Filter(append([]string{"CAP_SYS_ADMIN"}, dockerDefaultCaps...))
	if err != nil {
		t.Fatal(err)
	}
	x64, x86 := arch.X86_64, arch.I386
	for _, tc := range []struct {
		what string
		f    *Filter
		a    *arch.Info
		name string
		args []uint64
		want uint32
	}{
		{"plain clone (fork, threads)", f, x64, "clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{"clone of a thread", f, x64, "clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, retAllow},
		{"clone with CLONE_NEWUSER", f, x64, "clone", []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone with CLONE_NEWNS", f, x64, "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{"clone with CLONE_NEWCGROUP", f, x64, "clone", []uint64{unix.CLONE_NEWCGROUP}, eperm},
		{"clone with a flag in the high word", f, x64, "clone", []uint64{1 << 40}, retAllow},
		{"clone3 falls back to clone", f, x64, "clone3", nil, enosys},
		{"unshare", f, x64, "unshare", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"setns", f, x64, "setns", nil, eperm},
		{"mount", f, x64, "mount", nil, eperm},
		{"keyctl", f, x64, "keyctl", nil, eperm},
		{"add_key", f, x64, "add_key", nil, eperm},
		{"request_key", f, x64, "request_key", nil, eperm},
		{"personality(PER_LINUX)", f, x64, "personality", []uint64{0}, retAllow},
		{"personality(PER_LINUX32)", f, x64, "personality", []uint64{0x0008}, retAllow},
		{"personality(UNAME26)", f, x64, "personality", []uint64{0x20000}, retAllow},
		{"personality(ADDR_NO_RANDOMIZE)", f, x64, "personality", []uint64{0x0040000}, eperm},
		{"personality query", f, x64, "personality", []uint64{0xffffffff}, retAllow},
		{"personality(READ_IMPLIES_EXEC)", f, x64, "personality", []uint64{0x0400000}, eperm},
		{"personality query, high word set", f, x64, "personality", []uint64{0xffffffff_ffffffff}, eperm},
		{"socket(AF_UNIX)", f, x64, "socket", []uint64{unix.AF_UNIX}, retAllow},
		{"socket(AF_INET6)", f, x64, "socket", []uint64{unix.AF_INET6}, retAllow},
		{"socket(AF_NETLINK)", f, x64, "socket", []uint64{unix.AF_NETLINK}, retAllow},
		{"socket(AF_ALG)", f, x64, "socket", []uint64{unix.AF_ALG}, eperm},
		// 40 is also sendfile's number: go-seccomp-bpf's assembler allowed this.
		{"socket(AF_VSOCK)", f, x64, "socket", []uint64{unix.AF_VSOCK}, eperm},
		{"socket(AF_UNSPEC)", f, x64, "socket", []uint64{unix.AF_UNSPEC}, retAllow},
		{"read", f, x64, "read", nil, retAllow},
		{"execve", f, x64, "execve", nil, retAllow},
		{"reboot", f, x64, "reboot", nil, eperm},
		{"i386 mkdir", f, x86, "mkdir", nil, retAllow},
		{"i386 socketcall", f, x86, "socketcall", nil, retAllow},
		{"i386 keyctl", f, x86, "keyctl", nil, eperm},
		{"i386 clone with CLONE_NEWUSER", f, x86, "clone", []uint64{unix.CLONE_NEWUSER}, eperm},
		{"x32 read", f, arch.X32, "read", nil, retAllow},
		{"x32 unshare", f, arch.X32, "unshare", nil, eperm},
		{"CAP_SYS_ADMIN: clone with CLONE_NEWUSER", withAdmin, x64, "clone", []uint64{unix.CLONE_NEWUSER}, retAllow},
		{"CAP_SYS_ADMIN: clone3", withAdmin, x64, "clone3", nil, retAllow},
		{"CAP_SYS_ADMIN: mount", withAdmin, x64, "mount", nil, retAllow},
		{"CAP_SYS_ADMIN: unshare", withAdmin, x64, "unshare", nil, retAllow},
		{"CAP_SYS_ADMIN: keyctl still", withAdmin, x64, "keyctl", nil, eperm},
	} {
		if got := call(t, tc.f, tc.a, tc.name, tc.args...); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.what, retName(got), retName(tc.want))
		}
	}
	// Numbers above every syscall the profile names: ENOSYS (runc's stub),
	// so that programs fall back from syscalls newer than the profile.
	if got := run(t, f, x64, 1000); got != enosys {
		t.Errorf("syscall 1000: %s, want ENOSYS", retName(got))
	}
	// Architectures the filter does not name: killed, as libseccomp does.
	if got := run(t, f, arch.AARCH64, 63); got != retKillThread {
		t.Errorf("aarch64 syscall: %s, want kill-thread", retName(got))
	}
}

func TestCapabilityConditionalRules(t *testing.T) {
	needAmd64(t)
	for _, tc := range []struct {
		cap, name string
	}{
		{"CAP_SYS_PTRACE", "process_vm_writev"}, {"CAP_SYS_TIME", "settimeofday"}, {"CAP_SYS_MODULE", "init_module"},
		{"CAP_SYS_BOOT", "reboot"}, {"CAP_SYS_RAWIO", "iopl"}, {"CAP_SYSLOG", "syslog"}, {"CAP_BPF", "bpf"},
		{"CAP_DAC_READ_SEARCH", "open_by_handle_at"}, {"CAP_SYS_NICE", "mbind"},
	} {
		without, err := Default().Filter(dockerDefaultCaps)
		if err != nil {
			t.Fatal(err)
		}
		with, err := Default().Filter(append([]string{strings.ToLower(strings.TrimPrefix(tc.cap, "CAP_"))}, dockerDefaultCaps...))
		if err != nil {
			t.Fatal(err)
		}
		if tc.name != "process_vm_writev" { // allowed from kernel 4.8 on without the capability
			if got := call(t, without, arch.X86_64, tc.name); got != eperm {
				t.Errorf("%s without %s: %s, want EPERM", tc.name, tc.cap, retName(got))
			}
		}
		if got := call(t, with, arch.X86_64, tc.name); got != retAllow {
			t.Errorf("%s with %s: %s, want allow", tc.name, tc.cap, retName(got))
		}
	}
}

func TestFilterCached(t *testing.T) {
	a, err := Default().Filter([]string{"CAP_KILL", "chown"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default().Filter([]string{"CAP_CHOWN", "kill", "CAP_KILL"})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same capability set compiled twice")
	}
	if f, err := Unconfined.Filter(nil); f != nil || err != nil {
		t.Errorf("Unconfined: %v, %v; want no filter", f, err)
	}
}

func mustParse(t *testing.T, js string) *Filter {
	t.Helper()
	p, err := Parse("/test/profile.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Filter(dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCustomProfile(t *testing.T) {
	needAmd64(t)
	x64 := arch.X86_64
	// A deny list: mkdir fails with the profile's errno, the rest runs.
	f := mustParse(t, `{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`)
	if got := call(t, f, x64, "mkdirat"); got != retErrno|13 {
		t.Errorf("mkdirat: %s, want errno 13", retName(got))
	}
	if got := call(t, f, x64, "unshare"); got != retAllow {
		t.Errorf("unshare: %s, want allow", retName(got))
	}
	if got := run(t, f, x64, 1000); got != retAllow {
		t.Errorf("syscall 1000 under an allow default: %s, want allow (no ENOSYS stub)", retName(got))
	}
	if got := call(t, f, arch.I386, "mkdir"); got != retKillThread {
		t.Errorf("i386 without architectures: %s, want kill-thread", retName(got))
	}

	// Several conditions on one argument are alternatives (runc); on
	// different arguments all must hold. Masked equality with a value.
	f = mustParse(t, `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
		{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
			{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 5, "op": "SCMP_CMP_GE"}]},
		{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
			{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}]},
		{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]},
		{"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
		{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 4294967296, "op": "SCMP_CMP_LT"}]},
		{"names": ["write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 4294967296, "op": "SCMP_CMP_LE"}]},
		{"names": ["close"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_GT"}]}]}`)
	for _, tc := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"personality", []uint64{1}, retAllow}, {"personality", []uint64{3}, retErrno | 38},
		{"personality", []uint64{7}, retAllow}, {"personality", []uint64{1 << 33}, retAllow},
		{"socket", []uint64{2, 1}, retAllow}, {"socket", []uint64{2, 0x801}, retAllow},
		{"socket", []uint64{2, 3}, retErrno | 38}, {"socket", []uint64{10, 1}, retErrno | 38},
		{"kill", []uint64{1, 15}, retAllow}, {"kill", []uint64{1, 9}, retKillProcess},
		{"read", []uint64{0, 0, 1<<32 - 1}, retAllow}, {"read", []uint64{0, 0, 1 << 32}, retErrno | 38},
		{"write", []uint64{0, 0, 1 << 32}, retAllow}, {"write", []uint64{0, 0, 1<<32 + 1}, retErrno | 38},
		{"close", []uint64{4}, retAllow}, {"close", []uint64{3}, retErrno | 38}, {"close", []uint64{1 << 32}, retAllow},
		{"mkdir", nil, retErrno | 38},
	} {
		if got := call(t, f, x64, tc.name, tc.args...); got != tc.want {
			t.Errorf("%s%v: %s, want %s", tc.name, tc.args, retName(got), retName(tc.want))
		}
	}
}

func TestBadProfiles(t *testing.T) {
	for _, tc := range []struct{ js, want string }{
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [`, "truncated"},
		{`{"defaultAction": "SCMP_ACT_ERRNO",, "syscalls": []}`, "line 1, column 3"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "sycalls": []}`, `unknown field "sycalls"`},
		{`{"syscalls": []}`, "no defaultAction"},
		{`{"defaultAction": "SCMP_ACT_NOPE", "syscalls": []}`, `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ERRNO"}]}`, `unknown syscall "mkdri"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}`, "SCMP_ACT_NOTIFY is not supported"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}`, "errnoRet 70000"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]}`, "argument index 6"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_LIKE"}]}]}`, "unknown operator"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]}`, "never match"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"], "syscalls": []}`, "flags"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_KILL"}]}`, "two unconditional rules"},
	} {
		_, err := Parse("/etc/p.json", []byte(tc.js))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/etc/p.json") {
			t.Errorf("Parse(%s): %v, want an error naming the file and containing %q", tc.js, err, tc.want)
		}
	}
	if _, err := Load("relative.json"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("Load(relative): %v", err)
	}
	if _, err := Load("/nonexistent/p.json"); err == nil || !strings.Contains(err.Error(), "/nonexistent/p.json") {
		t.Errorf("Load(missing): %v", err)
	}
}

// Docker's own default.json, as shipped with moby/profiles, loads as a
// custom profile and compiles to the same program as DefaultProfile().
func TestDockerJSONMatchesDefault(t *testing.T) {
	data, err := dockerDefaultJSON()
	if err != nil {
		t.Skip(err)
	}
	p, err := Parse("default.json", data)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Filter(dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default().Filter(dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Program) != string(b.Program) {
		t.Errorf("default.json compiles to %d instructions, DefaultProfile() to %d", len(a.Program)/8, len(b.Program)/8)
	}
}

func dockerDefaultJSON() ([]byte, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/moby/profiles/seccomp").Output()
	if err != nil {
		return nil, fmt.Errorf("find moby/profiles in the module cache: %v", err)
	}
	return os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "default.json"))
}

func TestSystemdSettings(t *testing.T) {
	get := func(ss []Setting, k string) string {
		for _, s := range ss {
			if s.Key == k {
				return s.Value
			}
		}
		return ""
	}
	ss, err := Default().Systemd(dockerDefaultCaps)
	if err != nil {
		t.Fatal(err)
	}
	filter := " " + get(ss, "SystemCallFilter") + " "
	for _, n := range []string{"read", "execve", "clone", "clone3", "socket", "personality"} {
		if !strings.Contains(filter, " "+n+" ") {
			t.Errorf("SystemCallFilter lacks %s", n)
		}
	}
	for _, n := range []string{"mount", "unshare", "setns", "keyctl", "add_key", "reboot"} {
		if strings.Contains(filter, " "+n+" ") {
			t.Errorf("SystemCallFilter allows %s", n)
		}
	}
	for k, want := range map[string]string{
		"SystemCallErrorNumber": "EPERM", "RestrictNamespaces": "yes", "LockPersonality": "yes",
	} {
		if got := get(ss, k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if runtime.GOARCH == "amd64" && get(ss, "SystemCallArchitectures") != "native x86-64 x86 x32" {
		t.Errorf("SystemCallArchitectures=%q", get(ss, "SystemCallArchitectures"))
	}
	fams := " " + strings.TrimPrefix(get(ss, "RestrictAddressFamilies"), "~") + " "
	if !strings.HasPrefix(get(ss, "RestrictAddressFamilies"), "~") || !strings.Contains(fams, " AF_VSOCK ") ||
		!strings.Contains(fams, " AF_ALG ") || strings.Contains(fams, " AF_INET ") || strings.Contains(fams, " AF_NETLINK ") {
		t.Errorf("RestrictAddressFamilies=%q, want ~ with AF_ALG and AF_VSOCK, without AF_INET and AF_NETLINK", get(ss, "RestrictAddressFamilies"))
	}

	// With CAP_SYS_ADMIN: mount, unshare, setns allowed, no namespace restriction.
	ss, err = Default().Systemd(append([]string{"CAP_SYS_ADMIN"}, dockerDefaultCaps...))
	if err != nil {
		t.Fatal(err)
	}
	filter = " " + get(ss, "SystemCallFilter") + " "
	for _, n := range []string{"mount", "unshare", "setns", "clone3"} {
		if !strings.Contains(filter, " "+n+" ") {
			t.Errorf("CAP_SYS_ADMIN: SystemCallFilter lacks %s", n)
		}
	}
	if get(ss, "RestrictNamespaces") != "" {
		t.Errorf("CAP_SYS_ADMIN: RestrictNamespaces=%s", get(ss, "RestrictNamespaces"))
	}

	p, err := Parse("/d.json", []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if ss, err := p.Systemd(nil); err != nil || get(ss, "SystemCallFilter") != "~mkdir:EACCES mkdirat:EACCES" {
		t.Errorf("deny list: %v, %v", ss, err)
	}
	p, err = Parse("/k.json", []byte(`{"defaultAction": "SCMP_ACT_ERRNO",
		"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Systemd(nil); err == nil || !strings.Contains(err.Error(), "/k.json") || !strings.Contains(err.Error(), "kill") {
		t.Errorf("argument conditions on systemd: %v", err)
	}
	if ss, err := Unconfined.Systemd(nil); ss != nil || err != nil {
		t.Errorf("unconfined: %v %v", ss, err)
	}
}

// BenchmarkCompileDefault is the cost of one cache miss: expanding Docker's
// profile for a capability set and compiling it.
func BenchmarkCompileDefault(b *testing.B) {
	for b.Loop() {
		ls, err := Default().expand(normCaps(dockerDefaultCaps))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := compile(ls, true); err != nil {
			b.Fatal(err)
		}
	}
}
