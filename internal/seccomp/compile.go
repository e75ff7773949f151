package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/elastic/go-seccomp-bpf/arch"
	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile, ready for seccomp(SECCOMP_SET_MODE_FILTER).
type Filter struct {
	Program []byte // struct sock_filter[] in native byte order, 8 bytes each
	Flags   uint   // SECCOMP_FILTER_FLAG_* from the profile's flags
}

// Instructions decodes the program, for tests and dumps.
func (f *Filter) Instructions() []bpf.Instruction {
	raw := make([]bpf.RawInstruction, len(f.Program)/8)
	for i := range raw {
		b := f.Program[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	ins, _ := bpf.Disassemble(raw)
	return ins
}

// Seccomp return values (linux/seccomp.h).
const (
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retTrap        = unix.SECCOMP_RET_TRAP
	retErrno       = unix.SECCOMP_RET_ERRNO
	retTrace       = unix.SECCOMP_RET_TRACE
	retLog         = unix.SECCOMP_RET_LOG
	retAllow       = unix.SECCOMP_RET_ALLOW
	retENOSYS      = retErrno | uint32(unix.ENOSYS)

	// retBadArch is libseccomp's default for an architecture the filter
	// does not name.
	retBadArch = retKillThread

	x32Bit    = 0x40000000 // __X32_SYSCALL_BIT
	maxInsns  = 4096       // BPF_MAXINSNS
	maxErrno  = 4095
	argOffset = 16 // offsetof(struct seccomp_data, args)
)

// cond is one argument comparison of a rule.
type cond struct {
	arg       uint
	op        specs.LinuxSeccompOperator
	val, val2 uint64
}

// rule is one action taken when any of its condition sets holds (each a
// conjunction); nil sets is unconditional.
type rule struct {
	ret  uint32
	sets [][]cond
}

// sysRules are the rules of one syscall number in one architecture.
type sysRules struct {
	nr     uint32 // with the architecture's mask (x32's bit)
	cond   []rule // in profile order
	uncond *uint32
}

// section is one architecture's part of the program.
type section struct {
	info   *arch.Info
	rules  map[uint32]*sysRules
	order  []uint32 // syscall numbers in order of first appearance
	maxNr  uint32   // largest number the profile names (for the -ENOSYS stub)
	seenNr bool
}

// archInfo maps the profile's architectures to syscall tables, for those
// that can run on this machine.
var archInfo = map[specs.Arch]*arch.Info{
	specs.ArchX86_64:  arch.X86_64,
	specs.ArchX86:     arch.I386,
	specs.ArchX32:     arch.X32,
	specs.ArchAARCH64: arch.AARCH64,
	specs.ArchARM:     arch.ARM,
}

// runnable lists, per GOARCH, the native table and the others its
// processes may use.
var runnable = map[string][]*arch.Info{
	"amd64": {arch.X86_64, arch.X32, arch.I386},
	"arm64": {arch.AARCH64, arch.ARM},
	"386":   {arch.I386},
	"arm":   {arch.ARM},
}

// compile turns an expanded profile into a filter for this machine.
// Syscall names no table knows are errors unless trusted (Docker's
// default profile names syscalls newer than the tables).
func compile(ls *specs.LinuxSeccomp, trusted bool) (*Filter, error) {
	here, ok := runnable[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("no syscall table for %s: run with SeccompProfile=%s", runtime.GOARCH, UnconfinedName)
	}
	if ls.ListenerPath != "" {
		return nil, errors.New("listenerPath: seccomp user notification is not supported")
	}
	var flags uint
	for _, fl := range ls.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case "SECCOMP_FILTER_FLAG_TSYNC": // runc ignores it too: the init is one thread
		default:
			return nil, fmt.Errorf("flags: %q is not supported (SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)", fl)
		}
	}
	def, err := action(ls.DefaultAction, ls.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	secs := []*section{{info: here[0]}} // the native architecture is always filtered
	for _, a := range ls.Architectures {
		info := archInfo[a]
		if info != nil && slices.Contains(here[1:], info) && !slices.ContainsFunc(secs, func(s *section) bool { return s.info == info }) {
			secs = append(secs, &section{info: info})
		}
	}
	for i, sc := range ls.Syscalls {
		ret, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d] (%v): %w", i, sc.Names, err)
		}
		sets, err := condSets(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d] (%v): %w", i, sc.Names, err)
		}
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("syscalls[%d]: no names", i)
		}
		for _, name := range sc.Names {
			if !trusted && !knownName(name) {
				return nil, fmt.Errorf("syscalls[%d]: unknown syscall %q", i, name)
			}
			for _, s := range secs {
				if err := s.add(name, ret, def, sets); err != nil {
					return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
				}
			}
		}
	}
	stub := def != retAllow && def != retLog && def&unix.SECCOMP_RET_ACTION_FULL != retTrace && def != retENOSYS
	prog, err := assemble(secs, def, stub)
	if err != nil {
		return nil, err
	}
	return &Filter{Program: prog, Flags: flags}, nil
}

// knownName reports whether any table, or Docker's default profile, names
// the syscall: a misspelt name in a profile is an error, not a no-op.
func knownName(name string) bool {
	for _, info := range []*arch.Info{arch.X86_64, arch.X32, arch.I386, arch.AARCH64, arch.ARM} {
		if _, ok := info.SyscallNames[name]; ok {
			return true
		}
	}
	return dockerNames()[name]
}

var dockerNames = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, sc := range mobyseccomp.DefaultProfile().Syscalls {
		for _, n := range sc.Names {
			m[n] = true
		}
	}
	return m
})

// add records one name's rule in s; names s's table lacks are skipped.
func (s *section) add(name string, ret, def uint32, sets [][]cond) error {
	n, ok := s.info.SyscallNames[name]
	if !ok {
		return nil
	}
	nr := uint32(n)
	if !s.seenNr || nr > s.maxNr {
		s.maxNr, s.seenNr = nr, true
	}
	if ret == def {
		return nil // as runc: a rule with the default action changes nothing
	}
	nr |= uint32(s.info.SeccompMask)
	r := s.rules[nr]
	if r == nil {
		if s.rules == nil {
			s.rules = map[uint32]*sysRules{}
		}
		r = &sysRules{nr: nr}
		s.rules[nr] = r
		s.order = append(s.order, nr)
	}
	if sets != nil {
		r.cond = append(r.cond, rule{ret: ret, sets: sets})
		return nil
	}
	if r.uncond != nil && *r.uncond != ret {
		return fmt.Errorf("%s has two unconditional rules with different actions", name)
	}
	r.uncond = &ret
	return nil
}

// action returns the seccomp return value of an OCI action.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errno != nil {
		if *errno > maxErrno {
			return 0, fmt.Errorf("errnoRet %d is not an errno (1..%d)", *errno, maxErrno)
		}
		data = uint32(*errno)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | data, nil
	case specs.ActTrace:
		return retTrace | data, nil
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, errors.New("SCMP_ACT_NOTIFY is not supported (no seccomp agent)")
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

// condSets groups a rule's arguments as runc does: conditions on different
// arguments must all hold; several on one argument are alternatives.
func condSets(args []specs.LinuxSeccompArg) ([][]cond, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var conds []cond
	count := map[uint]int{}
	for _, a := range args {
		if a.Index > 5 {
			return nil, fmt.Errorf("argument index %d: syscalls have arguments 0..5", a.Index)
		}
		switch a.Op {
		case specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
		case specs.OpMaskedEqual:
			if a.ValueTwo&^a.Value != 0 {
				return nil, fmt.Errorf("SCMP_CMP_MASKED_EQ: valueTwo %#x has bits outside the mask %#x, it can never match", a.ValueTwo, a.Value)
			}
		default:
			return nil, fmt.Errorf("unknown operator %q", a.Op)
		}
		conds = append(conds, cond{arg: a.Index, op: a.Op, val: a.Value, val2: a.ValueTwo})
		count[a.Index]++
	}
	for _, n := range count {
		if n > 1 {
			sets := make([][]cond, len(conds))
			for i, c := range conds {
				sets[i] = []cond{c}
			}
			return sets, nil
		}
	}
	return [][]cond{conds}, nil
}
