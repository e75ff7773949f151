package seccomp

import (
	"testing"
)

// FuzzParse feeds profiles in Docker's JSON format to the parser, the
// compiler and the systemd mapping: each either refuses the profile with
// an error or gives a program the kernel would take (a whole number of
// instructions, at most BPF_MAXINSNS), and none panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`))
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}, {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}], "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("/fuzz.json", data)
		if err != nil {
			return
		}
		for _, caps := range [][]string{nil, {"CAP_SYS_ADMIN"}} {
			if flt, err := p.Filter(caps); err == nil && flt != nil {
				if n := len(flt.Program); n == 0 || n%8 != 0 || n/8 > maxInsns {
					t.Fatalf("program of %d bytes", n)
				}
			}
			_, _ = p.Systemd(caps)
		}
	})
}
