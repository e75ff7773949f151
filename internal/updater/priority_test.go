package updater

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLowerPriority runs LowerPriority in a child process (niceness can't
// be undone without privileges) and checks every thread of the child,
// including threads started afterwards, through /proc.
func TestLowerPriority(t *testing.T) {
	if os.Getenv("FLOTILLA_PRIORITY_CHILD") == "1" {
		if err := LowerPriority(Background); err != nil {
			os.Stdout.WriteString("error: " + err.Error())
			os.Exit(1)
		}
		done := make(chan struct{})
		for range 8 { // make the runtime start more threads
			go func() { busy(20 * time.Millisecond); done <- struct{}{} }()
		}
		for range 8 {
			<-done
		}
		var out []string
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			nice, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
			io, _, _ := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
			// getpriority(2)'s raw syscall returns 20 - nice.
			out = append(out, task.Name()+":"+strconv.Itoa(20-nice)+":"+strconv.Itoa(int(io))+":"+errString(err))
		}
		os.Stdout.WriteString(strings.Join(out, " "))
		os.Exit(0)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestLowerPriority$")
	cmd.Env = append(os.Environ(), "FLOTILLA_PRIORITY_CHILD=1")
	cmd.Dir = filepath.Dir(exe)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, b)
	}
	threads := strings.Fields(string(b))
	if len(threads) < 2 {
		t.Fatalf("child reported %d threads: %q", len(threads), b)
	}
	for _, th := range threads {
		f := strings.Split(th, ":")
		if len(f) != 4 || f[1] != strconv.Itoa(Background) || f[2] != strconv.Itoa(ioprioBestEffort) || f[3] != "" {
			t.Errorf("thread %s: want nice %d and I/O priority %d (best effort, level 7): got %q", f[0], Background, ioprioBestEffort, th)
		}
	}
	t.Logf("%d threads, all at nice %d and best-effort I/O level 7", len(threads), Background)
}

func busy(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func errString(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}
