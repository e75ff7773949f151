package unit

import "strings"

// Expand replaces fleet's specifiers in s with parts of n, in one pass:
//
//	%n  the full name              web@1.service
//	%N  the name without suffix    web@1
//	%p  the prefix                 web  (db for db.service)
//	%i  the instance               1    (empty for plain units and templates)
//	%%  a literal %
//
// Any other %x, and a trailing %, is left as it is (systemd has many more
// specifiers; they are for systemd to expand on the machine, not for us).
func (n Name) Expand(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(n.full))
	for i >= 0 {
		b.WriteString(s[:i])
		if i+1 >= len(s) {
			b.WriteByte('%')
			s = ""
			break
		}
		switch s[i+1] {
		case 'n':
			b.WriteString(n.full)
		case 'N':
			b.WriteString(n.Base())
		case 'p':
			b.WriteString(n.Prefix())
		case 'i':
			b.WriteString(n.Instance())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteString(s[i : i+2])
		}
		s = s[i+2:]
		i = strings.IndexByte(s, '%')
	}
	b.WriteString(s)
	return b.String()
}
