package systemd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Journal runs `journalctl -u NAME -n LINES -o cat [-f]` with its output
// going to w: the unit's messages as the program wrote them, plus systemd's
// own lines about the unit ("Started x.service."). lines < 0 means all.
// With follow it streams until ctx is done and then returns nil.
// It fails, saying so, where journalctl is not installed.
func (m *Manager) Journal(ctx context.Context, name string, lines int, follow bool, w io.Writer) error {
	if _, err := m.lookup("journal of", name); err != nil {
		return err
	}
	if lines == 0 && !follow {
		return nil
	}
	bin := m.cfg.Journalctl
	if bin == "" {
		p, err := exec.LookPath("journalctl")
		if err != nil {
			return fmt.Errorf("systemdmgr: journal of %s: journalctl is not installed; this backend reads logs from journald: %w", name, err)
		}
		bin = p
	}
	n := "all"
	if lines >= 0 {
		n = strconv.Itoa(lines)
	}
	args := []string{"--no-pager", "-q", "-u", name, "-n", n, "-o", "cat"}
	if follow {
		args = append(args, "-f")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		if follow {
			return nil
		}
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("systemdmgr: journal of %s: %s: %w: %s", name, bin, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// limitedWriter keeps the first n bytes and discards the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
