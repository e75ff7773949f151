package seccomp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a helper that installs the default
// filter (no root needed under no_new_privs) and reports how syscalls fare.
const helperEnv = "FLOTILLA_SECCOMP_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		kernelHelper()
		return
	}
	os.Exit(m.Run())
}

func kernelHelper() {
	runtime.LockOSThread() // the filter is this thread's, as in the container init
	f, err := Default().Filter(dockerDefaultCaps)
	if err == nil {
		err = install(f)
	}
	if err != nil {
		fmt.Println("install:", err)
		os.Exit(1)
	}
	errStr := func(e error) string {
		if e == nil {
			return "ok"
		}
		var en syscall.Errno
		if errors.As(e, &en) {
			return unix.ErrnoName(en)
		}
		return e.Error()
	}
	res := map[string]string{}
	raw := func(nr uintptr, args ...uintptr) error {
		var a [6]uintptr
		copy(a[:], args)
		_, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
		if e != 0 {
			return e
		}
		return nil
	}
	desc := []byte("flotilla\x00")
	typ := []byte("user\x00")
	// KEY_SPEC_PROCESS_KEYRING is -2.
	res["add_key"] = errStr(raw(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(&typ[0])), uintptr(unsafe.Pointer(&desc[0])), 0, 0, uintptr(0xfffffffe)))
	// KEY_SPEC_SESSION_KEYRING is -3.
	res["keyctl"] = errStr(raw(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0))
	res["unshare(CLONE_NEWUSER)"] = errStr(unix.Unshare(unix.CLONE_NEWUSER))
	clone := func(flags uintptr) string {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
		return errStr(errors.Unwrap(cmd.Run()))
	}
	res["fork+exec"] = clone(0)
	res["clone(CLONE_NEWUSER)"] = clone(unix.CLONE_NEWUSER)
	res["personality(PER_LINUX32)"] = errStr(raw(unix.SYS_PERSONALITY, 0x0008))
	res["personality(ADDR_NO_RANDOMIZE)"] = errStr(raw(unix.SYS_PERSONALITY, 0x0040000))
	res["personality(READ_IMPLIES_EXEC)"] = errStr(raw(unix.SYS_PERSONALITY, 0x0400000))
	raw(unix.SYS_PERSONALITY, 0)
	for _, af := range []struct {
		name string
		af   int
	}{{"AF_INET", unix.AF_INET}, {"AF_VSOCK", unix.AF_VSOCK}, {"AF_ALG", unix.AF_ALG}} {
		fd, err := unix.Socket(af.af, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		res["socket("+af.name+")"] = errStr(err)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

// install loads f as the sandbox's init does (internal/sandbox's
// loadSeccomp; that package cannot be imported here).
func install(f *Filter) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&f.Program[0]))}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f.Flags), uintptr(unsafe.Pointer(&prog))); e != 0 {
		return e
	}
	return nil
}

// TestDefaultProfileInKernel loads the compiled default profile into a
// real process (unprivileged: no_new_privs is enough) and tries what a
// container should and should not do.
func TestDefaultProfileInKernel(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("no syscall table for " + runtime.GOARCH)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var res map[string]string
	if err := json.Unmarshal(out[strings.LastIndexByte(strings.TrimSpace(string(out)), '\n')+1:], &res); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	want := map[string]string{
		"add_key": "EPERM", "keyctl": "EPERM",
		"unshare(CLONE_NEWUSER)": "EPERM", "clone(CLONE_NEWUSER)": "EPERM", "fork+exec": "ok",
		"personality(PER_LINUX32)": "ok", "personality(ADDR_NO_RANDOMIZE)": "EPERM",
		"personality(READ_IMPLIES_EXEC)": "EPERM",
		"socket(AF_INET)":                "ok", "socket(AF_VSOCK)": "EPERM", "socket(AF_ALG)": "EPERM",
	}
	for k, w := range want {
		if res[k] != w {
			t.Errorf("%s under the default profile: %s, want %s", k, res[k], w)
		}
	}
}
