package seccomp

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// assemble lays the program out:
//
//	ld arch; for each architecture: jeq id → its section; ret KILL_THREAD
//	section: ld nr
//	         [x86_64: nr has x32's bit → the x32 section, or KILL_THREAD]
//	         binary search on nr down to an interval of numbers with one
//	         decision: ret action (default between named syscalls, ENOSYS
//	         above the largest named), or the block of a syscall with
//	         conditional rules
//
// A block decides its syscall alone: its rules' conditions in order, then
// its unconditional action or the default. Nothing jumps back into the
// number comparisons once an argument is loaded.
func assemble(secs []*section, def uint32, stub bool) ([]byte, error) {
	var x32 *section
	var top []*section
	for _, s := range secs {
		if s.info == arch.X32 {
			x32 = s
		} else {
			top = append(top, s)
		}
	}
	var body [][]bpf.Instruction
	for _, s := range top {
		code, err := s.code(def, stub)
		if err != nil {
			return nil, err
		}
		if s.info == arch.X86_64 {
			prefix := []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: x32Bit, SkipFalse: 1}}
			rest := code[1:] // after ld nr
			var xcode []bpf.Instruction
			if x32 != nil {
				if xcode, err = x32.code(def, stub); err != nil {
					return nil, err
				}
				prefix = append(prefix, bpf.Jump{Skip: uint32(len(rest))})
			} else {
				prefix = append(prefix, bpf.RetConstant{Val: retBadArch})
			}
			code = append(append(prefix, rest...), xcode...)
		}
		body = append(body, code)
	}
	prog := []bpf.Instruction{bpf.LoadAbsolute{Off: 4, Size: 4}}
	start := 1 + 2*len(top) + 1
	for i, s := range top {
		here := len(prog) + 2 // the instruction after this entry's jump
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(s.info.ID), SkipFalse: 1}, bpf.Jump{Skip: uint32(start - here)})
		start += len(body[i])
	}
	prog = append(prog, bpf.RetConstant{Val: retBadArch})
	for _, b := range body {
		prog = append(prog, b...)
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("the filter has %d instructions, more than the kernel's %d", len(prog), maxInsns)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	out := make([]byte, 8*len(raw))
	for i, r := range raw {
		binary.NativeEndian.PutUint16(out[8*i:], r.Op)
		out[8*i+2], out[8*i+3] = r.Jt, r.Jf
		binary.NativeEndian.PutUint32(out[8*i+4:], r.K)
	}
	return out, nil
}

// code is one architecture's section, starting with ld nr: a binary search
// over intervals of syscall numbers that share a decision, as libseccomp's
// tree (runc asks for it). A lookup takes ~2·log2(intervals) compares, and
// the kernel's per-syscall action cache, which emulates the filter for
// every number when it is installed, stays cheap to build.
func (s *section) code(def uint32, stub bool) ([]bpf.Instruction, error) {
	type interval struct {
		start uint32
		leaf  []bpf.Instruction // a return, or a block
		ret   *uint32           // the return when the leaf is one
	}
	var ivs []interval
	addRet := func(start, r uint32) {
		if n := len(ivs); n > 0 && ivs[n-1].ret != nil && *ivs[n-1].ret == r {
			return // the previous interval goes on
		}
		ivs = append(ivs, interval{start: start, leaf: []bpf.Instruction{bpf.RetConstant{Val: r}}, ret: &r})
	}
	nrs := make([]uint32, 0, len(s.rules))
	for nr := range s.rules {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs)
	next := uint32(0)
	for _, nr := range nrs {
		if nr > next {
			addRet(next, def)
		}
		r := s.rules[nr]
		if len(r.cond) == 0 {
			addRet(nr, *r.uncond)
		} else {
			block, err := r.block(def)
			if err != nil {
				return nil, err
			}
			ivs = append(ivs, interval{start: nr, leaf: block})
		}
		next = nr + 1
	}
	if stub && s.seenNr {
		// runc's -ENOSYS stub: above every number the profile names.
		tail := s.maxNr | uint32(s.info.SeccompMask) + 1
		if next < tail {
			addRet(next, def)
		}
		addRet(max(next, tail), retENOSYS)
	} else {
		addRet(next, def)
	}
	var tree func(ivs []interval) []bpf.Instruction
	tree = func(ivs []interval) []bpf.Instruction {
		if len(ivs) == 1 {
			return ivs[0].leaf
		}
		mid := len(ivs) / 2
		left, right := tree(ivs[:mid]), tree(ivs[mid:])
		k := ivs[mid].start
		var node []bpf.Instruction
		if len(left) <= 255 {
			node = []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: k, SkipTrue: uint8(len(left))}}
		} else {
			node = []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: k, SkipFalse: 1}, bpf.Jump{Skip: uint32(len(left))}}
		}
		return append(append(node, left...), right...)
	}
	return append([]bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}}, tree(ivs)...), nil
}

// block decides one syscall whose accumulator holds its number: each
// condition set of each rule in order, then the unconditional action.
func (r *sysRules) block(def uint32) ([]bpf.Instruction, error) {
	type set struct {
		conds []cond
		ret   uint32
	}
	var sets []set
	for _, ru := range r.cond {
		for _, cs := range ru.sets {
			sets = append(sets, set{cs, ru.ret})
		}
	}
	// A run of sets that are each one 32-bit equality on the same argument
	// with the same action (Docker's socket families, personality values)
	// loads the argument once.
	single := func(st set) bool {
		return len(st.conds) == 1 && st.conds[0].op == specs.OpEqualTo && st.conds[0].val>>32 == 0
	}
	var ins []bpf.Instruction
	for i := 0; i < len(sets); {
		j := i + 1
		for single(sets[i]) && j < len(sets) && j-i < 250 && single(sets[j]) && sets[j].ret == sets[i].ret && sets[j].conds[0].arg == sets[i].conds[0].arg {
			j++
		}
		if j-i == 1 {
			code, err := setCode(sets[i].conds, sets[i].ret)
			if err != nil {
				return nil, err
			}
			ins = append(ins, code...)
			i = j
			continue
		}
		n := j - i
		lo := uint32(argOffset + 8*sets[i].conds[0].arg)
		ins = append(ins, bpf.LoadAbsolute{Off: lo + 4, Size: 4}, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: uint8(n + 2)},
			bpf.LoadAbsolute{Off: lo, Size: 4})
		for k, st := range sets[i:j] {
			jmp := bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(st.conds[0].val), SkipTrue: uint8(n - 1 - k)}
			if k == n-1 {
				jmp.SkipFalse = 1
			}
			ins = append(ins, jmp)
		}
		ins = append(ins, bpf.RetConstant{Val: sets[i].ret})
		i = j
	}
	last := def
	if r.uncond != nil {
		last = *r.uncond
	}
	return append(ins, bpf.RetConstant{Val: last}), nil
}

// Jump targets inside a condition set.
const (
	fall = iota // the next instruction
	pass        // this condition holds: the next condition, or the return
	fail        // the set does not hold: past its return
)

type sym struct {
	ins  bpf.Instruction // when not a jump
	jump bool
	test bpf.JumpTest
	val  uint32
	t, f int
}

func jmp(test bpf.JumpTest, val uint32, t, f int) sym {
	return sym{jump: true, test: test, val: val, t: t, f: f}
}

// setCode returns instructions that return ret when every condition of set
// holds, and otherwise go on past their end.
func setCode(set []cond, ret uint32) ([]bpf.Instruction, error) {
	var syms []sym
	var owner, starts []int
	for j, c := range set {
		starts = append(starts, len(syms))
		cs := condCode(c)
		syms = append(syms, cs...)
		for range cs {
			owner = append(owner, j)
		}
	}
	retAt := len(syms)
	out := make([]bpf.Instruction, 0, len(syms)+1)
	for i, s := range syms {
		if !s.jump {
			out = append(out, s.ins)
			continue
		}
		target := func(k int) int {
			switch k {
			case pass:
				if owner[i]+1 < len(starts) {
					return starts[owner[i]+1]
				}
				return retAt
			case fail:
				return retAt + 1
			}
			return i + 1
		}
		st, sf := target(s.t)-i-1, target(s.f)-i-1
		if st > 255 || sf > 255 {
			return nil, fmt.Errorf("a rule has too many conditions")
		}
		out = append(out, bpf.JumpIf{Cond: s.test, Val: s.val, SkipTrue: uint8(st), SkipFalse: uint8(sf)})
	}
	return append(out, bpf.RetConstant{Val: ret}), nil
}

// condCode compares a 64-bit argument, high word first (little-endian
// seccomp_data: the low word is at the lower offset).
func condCode(c cond) []sym {
	lo := uint32(argOffset + 8*c.arg)
	ldLo := sym{ins: bpf.LoadAbsolute{Off: lo, Size: 4}}
	ldHi := sym{ins: bpf.LoadAbsolute{Off: lo + 4, Size: 4}}
	vh, vl := uint32(c.val>>32), uint32(c.val)
	eq, gt, ge := bpf.JumpEqual, bpf.JumpGreaterThan, bpf.JumpGreaterOrEqual
	switch c.op {
	case specs.OpEqualTo:
		return []sym{ldHi, jmp(eq, vh, fall, fail), ldLo, jmp(eq, vl, pass, fail)}
	case specs.OpNotEqual:
		return []sym{ldHi, jmp(eq, vh, fall, pass), ldLo, jmp(eq, vl, fail, pass)}
	case specs.OpGreaterThan:
		return []sym{ldHi, jmp(gt, vh, pass, fall), jmp(eq, vh, fall, fail), ldLo, jmp(gt, vl, pass, fail)}
	case specs.OpGreaterEqual:
		return []sym{ldHi, jmp(gt, vh, pass, fall), jmp(eq, vh, fall, fail), ldLo, jmp(ge, vl, pass, fail)}
	case specs.OpLessThan:
		return []sym{ldHi, jmp(ge, vh, fall, pass), jmp(eq, vh, fall, fail), ldLo, jmp(ge, vl, fail, pass)}
	case specs.OpLessEqual:
		return []sym{ldHi, jmp(ge, vh, fall, pass), jmp(eq, vh, fall, fail), ldLo, jmp(gt, vl, fail, pass)}
	}
	// SCMP_CMP_MASKED_EQ: (arg & val) == val2
	dh, dl := uint32(c.val2>>32), uint32(c.val2)
	and := func(m uint32) sym { return sym{ins: bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: m}} }
	return []sym{ldHi, and(vh), jmp(eq, dh, fall, fail), ldLo, and(vl), jmp(eq, dl, pass, fail)}
}
