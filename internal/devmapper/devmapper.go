package devmapper

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ControlPath is the device-mapper control node; Create makes it (misc
// device 10, the minor from /proc/misc) when no udev or devtmpfs did.
const ControlPath = "/dev/mapper/control"

// DevDir is where Create makes the devices' nodes.
const DevDir = "/dev/mapper"

// Target is one line of a table: Length sectors from Start, handled by
// the Type target with Params ("verity": internal/verity's Table).
type Target struct {
	Start, Length uint64
	Type          string
	Params        string
}

// Create makes device name with one table and resumes it (a new device
// is suspended until then), and returns the path of its node under
// DevDir. readOnly makes the device refuse writes. On error nothing is
// left behind.
func Create(name string, readOnly bool, targets ...Target) (string, error) {
	if len(name) == 0 || len(name) >= unix.DM_NAME_LEN || bytes.ContainsAny([]byte(name), "/ ") {
		return "", fmt.Errorf("devmapper: bad device name %q", name)
	}
	ctl, err := openControl()
	if err != nil {
		return "", err
	}
	defer ctl.Close()
	var flags uint32
	if readOnly {
		flags = unix.DM_READONLY_FLAG
	}
	if _, err := ioctl(ctl, unix.DM_DEV_CREATE, name, flags, nil); err != nil {
		return "", fmt.Errorf("devmapper: create %s: %w", name, err)
	}
	undo := func(err error) (string, error) {
		ioctl(ctl, unix.DM_DEV_REMOVE, name, 0, nil)
		return "", err
	}
	body, err := tableBody(targets)
	if err != nil {
		return undo(fmt.Errorf("devmapper: %s: %w", name, err))
	}
	hdr, err := ioctlN(ctl, unix.DM_TABLE_LOAD, name, flags, uint32(len(targets)), body)
	if err != nil {
		return undo(fmt.Errorf("devmapper: load table of %s (%s %s): %w", name, targets[0].Type, targets[0].Params, err))
	}
	if _, err := ioctl(ctl, unix.DM_DEV_SUSPEND, name, 0, nil); err != nil { // no SUSPEND flag: resume
		return undo(fmt.Errorf("devmapper: resume %s: %w", name, err))
	}
	node := filepath.Join(DevDir, name)
	os.Remove(node)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(hdr.Dev)); err != nil {
		return undo(fmt.Errorf("devmapper: mknod %s: %w", node, err))
	}
	return node, nil
}

// Remove removes device name and its node. The device must not be open.
func Remove(name string) error {
	ctl, err := openControl()
	if err != nil {
		return err
	}
	defer ctl.Close()
	os.Remove(filepath.Join(DevDir, name))
	if _, err := ioctl(ctl, unix.DM_DEV_REMOVE, name, 0, nil); err != nil {
		return fmt.Errorf("devmapper: remove %s: %w", name, err)
	}
	return nil
}

// Status is the first target's status line ("V" or "C" for verity).
func Status(name string) (string, error) {
	ctl, err := openControl()
	if err != nil {
		return "", err
	}
	defer ctl.Close()
	return targetText(ctl, name, 0)
}

// TableOf is the first target's type and table line, as the kernel shows
// them (device numbers for paths).
func TableOf(name string) (typ, params string, err error) {
	ctl, err := openControl()
	if err != nil {
		return "", "", err
	}
	defer ctl.Close()
	out, typ, err := status(ctl, name, unix.DM_STATUS_TABLE_FLAG)
	return typ, out, err
}

// NameOf is the name of the device-mapper device with these numbers, or
// an error when it is not one (or device-mapper is absent).
func NameOf(major, minor uint32) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/dm/name", major, minor))
	if err != nil {
		return "", fmt.Errorf("devmapper: %d:%d is not a device-mapper device: %w", major, minor, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func targetText(ctl *os.File, name string, flags uint32) (string, error) {
	out, _, err := status(ctl, name, flags)
	return out, err
}

func status(ctl *os.File, name string, flags uint32) (text, typ string, err error) {
	for size := 16 << 10; size <= 1<<20; size *= 4 {
		buf := make([]byte, size)
		hdr := header(buf, name, flags)
		if err := ioctlRaw(ctl, unix.DM_TABLE_STATUS, buf); err != nil {
			return "", "", fmt.Errorf("devmapper: status of %s: %w", name, err)
		}
		if hdr.Flags&unix.DM_BUFFER_FULL_FLAG != 0 {
			continue
		}
		if hdr.Target_count == 0 {
			return "", "", fmt.Errorf("devmapper: %s has no table", name)
		}
		spec := (*unix.DmTargetSpec)(unsafe.Pointer(&buf[hdr.Data_start]))
		rest := buf[int(hdr.Data_start)+unix.SizeofDmTargetSpec:]
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			rest = rest[:i]
		}
		return string(rest), cstr(spec.Target_type[:]), nil
	}
	return "", "", fmt.Errorf("devmapper: status of %s does not fit 1 MiB", name)
}

// tableBody is the targets as DM_TABLE_LOAD wants them: each a
// dm_target_spec, its parameters NUL-terminated, padded to 8 bytes, and
// Next the offset of the following spec from this one.
func tableBody(targets []Target) ([]byte, error) {
	if len(targets) == 0 {
		return nil, errors.New("no targets")
	}
	var body []byte
	for _, t := range targets {
		if len(t.Type) == 0 || len(t.Type) >= unix.DM_MAX_TYPE_NAME {
			return nil, fmt.Errorf("bad target type %q", t.Type)
		}
		n := unix.SizeofDmTargetSpec + len(t.Params) + 1
		n = (n + 7) &^ 7
		rec := make([]byte, n)
		spec := (*unix.DmTargetSpec)(unsafe.Pointer(&rec[0]))
		spec.Sector_start, spec.Length, spec.Next = t.Start, t.Length, uint32(n)
		copy(spec.Target_type[:], t.Type)
		copy(rec[unix.SizeofDmTargetSpec:], t.Params)
		body = append(body, rec...)
	}
	return body, nil
}

func openControl() (*os.File, error) {
	f, err := os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err = makeControl(); err == nil {
			f, err = os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("devmapper: %w (is dm_mod loaded?)", err)
	}
	return f, nil
}

// makeControl makes /dev/mapper/control from /proc/misc's minor.
func makeControl() error {
	b, err := os.ReadFile("/proc/misc")
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var minor int
		var name string
		if n, _ := fmt.Sscanf(string(line), "%d %s", &minor, &name); n == 2 && name == "device-mapper" {
			if err := os.MkdirAll(DevDir, 0o755); err != nil {
				return err
			}
			return unix.Mknod(ControlPath, unix.S_IFCHR|0o600, int(unix.Mkdev(10, uint32(minor))))
		}
	}
	return fmt.Errorf("%s: no device-mapper in /proc/misc", ControlPath)
}

func ioctl(ctl *os.File, req uint, name string, flags uint32, body []byte) (unix.DmIoctl, error) {
	return ioctlN(ctl, req, name, flags, 0, body)
}

func ioctlN(ctl *os.File, req uint, name string, flags, targets uint32, body []byte) (unix.DmIoctl, error) {
	buf := make([]byte, unix.SizeofDmIoctl+len(body)+(16<<10))
	hdr := header(buf, name, flags)
	hdr.Target_count = targets
	copy(buf[unix.SizeofDmIoctl:], body)
	err := ioctlRaw(ctl, req, buf)
	return *hdr, err
}

// header fills the dm_ioctl at the start of buf.
func header(buf []byte, name string, flags uint32) *unix.DmIoctl {
	hdr := (*unix.DmIoctl)(unsafe.Pointer(&buf[0]))
	hdr.Version = [3]uint32{unix.DM_VERSION_MAJOR, 0, 0}
	hdr.Data_size = uint32(len(buf))
	hdr.Data_start = unix.SizeofDmIoctl
	hdr.Flags = flags
	copy(hdr.Name[:], name)
	return hdr
}

func ioctlRaw(ctl *os.File, req uint, buf []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), uintptr(req), uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
