package seccomp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Setting is one [Service] key of a systemd unit.
type Setting struct{ Key, Value string }

// Systemd returns the settings with which systemd's own filter enforces p
// for a unit with the capability set caps, or an error naming what
// systemd cannot express. Docker's default profile maps to:
//
//   - SystemCallFilter= with every syscall the profile allows outright,
//     SystemCallErrorNumber= with its errno, and SystemCallArchitectures=
//     with its architectures;
//   - clone's namespace-flag condition (without CAP_SYS_ADMIN) as
//     RestrictNamespaces=yes, which also fails clone3 with ENOSYS as the
//     profile does;
//   - socket's family conditions as RestrictAddressFamilies=~ with the
//     families the profile refuses;
//   - personality's allowed values as LockPersonality=yes.
//
// What differs: LockPersonality allows only the current persona and the
// query, so PER_LINUX32 and UNAME26 (allowed by Docker) are refused; a
// syscall newer than the profile fails with the profile's errno, not
// ENOSYS; families refused by Docker that this kernel lacks fail with
// EAFNOSUPPORT instead of EPERM.
func (p *Profile) Systemd(caps []string) ([]Setting, error) {
	if p.unconfined {
		return nil, nil
	}
	ls, err := p.expand(normCaps(caps))
	if err != nil {
		return nil, err
	}
	def, err := action(ls.DefaultAction, ls.DefaultErrnoRet)
	if err != nil {
		return nil, p.errorf("defaultAction: %v", err)
	}
	bad := func(sc specs.LinuxSyscall, why string) error {
		return p.errorf("the systemd backend cannot express the rule for %s: %s (use the native unit manager)", strings.Join(sc.Names, ", "), why)
	}
	var names []string
	var restrictNS, lockPersonality bool
	var families map[uint64]bool // allowed by socket rules; nil: no socket rule
	denyList := def == retAllow || def == retLog
	for _, sc := range ls.Syscalls {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		if ret == def {
			continue
		}
		switch {
		case denyList && len(sc.Args) == 0 && ret&unix.SECCOMP_RET_ACTION_FULL == retErrno:
			for _, n := range sc.Names {
				names = append(names, n+":"+unix.ErrnoName(unix.Errno(ret&unix.SECCOMP_RET_DATA)))
			}
		case denyList:
			return nil, bad(sc, "a deny-list profile maps only to unconditional SCMP_ACT_ERRNO rules")
		case ret != retAllow && ret != retLog:
			if slices.Equal(sc.Names, []string{"clone3"}) && ret == retENOSYS && len(sc.Args) == 0 {
				names = append(names, "clone3") // RestrictNamespaces= fails it with ENOSYS
				restrictNS = true
				continue
			}
			return nil, bad(sc, "an allow-list profile maps only to SCMP_ACT_ALLOW rules")
		case len(sc.Args) == 0:
			names = append(names, sc.Names...)
		case slices.Equal(sc.Names, []string{"clone"}) && isNamespaceMask(sc.Args):
			names = append(names, "clone")
			restrictNS = true
		case slices.Equal(sc.Names, []string{"personality"}) && len(sc.Args) == 1 && sc.Args[0].Op == specs.OpEqualTo:
			names = append(names, "personality")
			lockPersonality = true
		case slices.Equal(sc.Names, []string{"socket"}) && argZeroOnly(sc.Args):
			names = append(names, "socket")
			if families == nil {
				families = map[uint64]bool{}
			}
			for af := uint64(1); af < unix.AF_MAX; af++ {
				if holdsAny(sc.Args, af) {
					families[af] = true
				}
			}
		default:
			return nil, bad(sc, "argument conditions")
		}
	}
	var out []Setting
	if denyList {
		out = append(out, Setting{"SystemCallFilter", "~" + strings.Join(dedupe(names), " ")})
	} else {
		out = append(out, Setting{"SystemCallFilter", strings.Join(dedupe(names), " ")})
		if def&unix.SECCOMP_RET_ACTION_FULL == retErrno {
			out = append(out, Setting{"SystemCallErrorNumber", unix.ErrnoName(unix.Errno(def & unix.SECCOMP_RET_DATA))})
		}
	}
	archs := []string{"native"}
	for _, a := range ls.Architectures {
		if n, ok := systemdArch[a]; ok {
			archs = append(archs, n)
		}
	}
	out = append(out, Setting{"SystemCallArchitectures", strings.Join(dedupe(archs), " ")})
	if restrictNS {
		out = append(out, Setting{"RestrictNamespaces", "yes"})
	}
	if lockPersonality {
		out = append(out, Setting{"LockPersonality", "yes"})
	}
	if families != nil {
		var refused []string
		for af := uint64(1); af < unix.AF_MAX; af++ {
			if !families[af] && afNames[af] != "" {
				refused = append(refused, afNames[af])
			}
		}
		if len(refused) > 0 {
			out = append(out, Setting{"RestrictAddressFamilies", "~" + strings.Join(refused, " ")})
		}
	}
	return out, nil
}

var systemdArch = map[specs.Arch]string{
	specs.ArchX86_64: "x86-64", specs.ArchX86: "x86", specs.ArchX32: "x32",
	specs.ArchAARCH64: "arm64", specs.ArchARM: "arm",
}

// afNames are the socket families systemd's RestrictAddressFamilies= knows
// by name (linux/socket.h).
var afNames = map[uint64]string{
	unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_AX25: "AF_AX25", unix.AF_IPX: "AF_IPX",
	unix.AF_APPLETALK: "AF_APPLETALK", unix.AF_NETROM: "AF_NETROM", unix.AF_BRIDGE: "AF_BRIDGE",
	unix.AF_ATMPVC: "AF_ATMPVC", unix.AF_X25: "AF_X25", unix.AF_INET6: "AF_INET6", unix.AF_ROSE: "AF_ROSE",
	unix.AF_DECnet: "AF_DECnet", unix.AF_NETBEUI: "AF_NETBEUI", unix.AF_SECURITY: "AF_SECURITY",
	unix.AF_KEY: "AF_KEY", unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_ASH: "AF_ASH",
	unix.AF_ECONET: "AF_ECONET", unix.AF_ATMSVC: "AF_ATMSVC", unix.AF_RDS: "AF_RDS", unix.AF_SNA: "AF_SNA",
	unix.AF_IRDA: "AF_IRDA", unix.AF_PPPOX: "AF_PPPOX", unix.AF_WANPIPE: "AF_WANPIPE", unix.AF_LLC: "AF_LLC",
	unix.AF_IB: "AF_IB", unix.AF_MPLS: "AF_MPLS", unix.AF_CAN: "AF_CAN", unix.AF_TIPC: "AF_TIPC",
	unix.AF_BLUETOOTH: "AF_BLUETOOTH", unix.AF_IUCV: "AF_IUCV", unix.AF_RXRPC: "AF_RXRPC",
	unix.AF_ISDN: "AF_ISDN", unix.AF_PHONET: "AF_PHONET", unix.AF_IEEE802154: "AF_IEEE802154",
	unix.AF_CAIF: "AF_CAIF", unix.AF_ALG: "AF_ALG", unix.AF_NFC: "AF_NFC", unix.AF_VSOCK: "AF_VSOCK",
	unix.AF_KCM: "AF_KCM", unix.AF_QIPCRTR: "AF_QIPCRTR", unix.AF_SMC: "AF_SMC", unix.AF_XDP: "AF_XDP",
	unix.AF_MCTP: "AF_MCTP",
}

// isNamespaceMask is Docker's clone rule: no namespace flag in argument 0.
func isNamespaceMask(args []specs.LinuxSeccompArg) bool {
	const ns = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP
	return len(args) == 1 && args[0].Index == 0 && args[0].Op == specs.OpMaskedEqual && args[0].Value == ns && args[0].ValueTwo == 0
}

func argZeroOnly(args []specs.LinuxSeccompArg) bool {
	return !slices.ContainsFunc(args, func(a specs.LinuxSeccompArg) bool { return a.Index != 0 })
}

// holdsAny evaluates conditions on one argument as runc combines them:
// one condition, or several as alternatives.
func holdsAny(args []specs.LinuxSeccompArg, v uint64) bool {
	return slices.ContainsFunc(args, func(a specs.LinuxSeccompArg) bool {
		switch a.Op {
		case specs.OpEqualTo:
			return v == a.Value
		case specs.OpNotEqual:
			return v != a.Value
		case specs.OpLessThan:
			return v < a.Value
		case specs.OpLessEqual:
			return v <= a.Value
		case specs.OpGreaterThan:
			return v > a.Value
		case specs.OpGreaterEqual:
			return v >= a.Value
		case specs.OpMaskedEqual:
			return v&a.Value == a.ValueTwo
		}
		return false
	})
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	return slices.DeleteFunc(s, func(x string) bool {
		if seen[x] {
			return true
		}
		seen[x] = true
		return false
	})
}

func (s Setting) String() string { return fmt.Sprintf("%s=%s", s.Key, s.Value) }
