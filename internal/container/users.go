package container

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/sandbox"
)

// lookupUser resolves User= ("name", "uid", "name:group", "uid:gid") against
// the container's own /etc/passwd and /etc/group, read without following
// symlinks out of the root.
func lookupUser(rootfs, spec string) (uid, gid uint32, groups []uint32, err error) {
	if spec == "" {
		return 0, 0, nil, nil
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd := readTable(rootfs, "etc/passwd")
	var name string
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		uid = uint32(n)
		gid = uint32(n)
		for _, f := range passwd {
			if len(f) > 3 && f[2] == userPart {
				name, gid = f[0], atou(f[3])
			}
		}
	} else {
		found := false
		for _, f := range passwd {
			if len(f) > 3 && f[0] == userPart {
				name, uid, gid, found = f[0], atou(f[2]), atou(f[3]), true
			}
		}
		if !found {
			return 0, 0, nil, fmt.Errorf("User=%s: no such user in the image's /etc/passwd: use a numeric uid", spec)
		}
	}
	grp := readTable(rootfs, "etc/group")
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			gid = uint32(n)
		} else {
			found := false
			for _, f := range grp {
				if len(f) > 2 && f[0] == groupPart {
					gid, found = atou(f[2]), true
				}
			}
			if !found {
				return 0, 0, nil, fmt.Errorf("Group %s: no such group in the image's /etc/group: use a numeric gid", groupPart)
			}
		}
	}
	for _, f := range grp {
		if len(f) > 3 && name != "" && slices.Contains(strings.Split(f[3], ","), name) {
			groups = append(groups, atou(f[2]))
		}
	}
	return uid, gid, groups, nil
}

func atou(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// readTable reads a colon-separated file inside rootfs; missing is empty.
func readTable(rootfs, rel string) [][]string {
	dirfd, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(dirfd)
	fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, ":"))
		}
	}
	return rows
}

// capabilities applies AddCapability=/DropCapability= to Docker's default
// set; nil means the default unchanged.
func capabilities(add, drop []string) []string {
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	set := append([]string(nil), sandbox.DefaultCapabilities...)
	for _, d := range drop {
		if strings.EqualFold(d, "all") {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(c string) bool { return strings.EqualFold(c, normCap(d)) })
	}
	for _, a := range add {
		if c := normCap(a); !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	if set == nil {
		set = []string{}
	}
	return set
}

// normCap turns net_admin / cap_net_admin / NET_ADMIN into CAP_NET_ADMIN,
// the form of sandbox.DefaultCapabilities.
func normCap(c string) string {
	return "CAP_" + strings.TrimPrefix(strings.ToUpper(c), "CAP_")
}

func mountOf(v Volume) sandbox.Mount {
	return sandbox.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
}
