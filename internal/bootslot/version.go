package bootslot

import "cmp"

// CompareVersions orders two version strings the way systemd-boot 252
// orders boot entries by version (strverscmp_improved in systemd's
// string-util-fundamental.c), returning -1, 0 or +1. It is used for every
// "newer" decision in this package so that it agrees with the boot loader.
//
// The strings are split into numeric and alphabetic segments; other
// characters than '~', '-', '^', '.' are dropped. A segment prefixed with
// '~' is oldest, then one prefixed with '-', then '^', then '.', and a
// segment without a prefix is newest; numbers compare as numbers, letters
// as strings, and a number is newer than letters. A string that runs out
// first is older, except against a '~' segment. Unlike semver, "2.0.0-rc1"
// is NEWER than "2.0.0" here (see doc.go).
func CompareVersions(a, b string) int {
	if a == "" || b == "" {
		return cmp.Compare(a, b)
	}
	i, j := 0, 0
	for {
		for i < len(a) && !versionChar(a[i]) {
			i++
		}
		for j < len(b) && !versionChar(b[j]) {
			j++
		}
		ca, cb := at(a, i), at(b, j)
		if ca == '~' || cb == '~' {
			if r := prefixOrder(ca, cb, '~'); r != 0 {
				return r
			}
			i, j = i+1, j+1
		}
		if i >= len(a) || j >= len(b) {
			return cmp.Compare(a[min(i, len(a)):], b[min(j, len(b)):])
		}
		for _, p := range []byte{'-', '^', '.'} {
			ca, cb = at(a, i), at(b, j)
			if ca == p || cb == p {
				if r := prefixOrder(ca, cb, p); r != 0 {
					return r
				}
				i, j = i+1, j+1
			}
		}
		if isDigit(at(a, i)) || isDigit(at(b, j)) {
			for i < len(a) && a[i] == '0' {
				i++
			}
			for j < len(b) && b[j] == '0' {
				j++
			}
			ea, eb := span(a, i, isDigit), span(b, j, isDigit)
			if r := cmp.Compare(ea-i, eb-j); r != 0 {
				return r
			}
			if r := cmp.Compare(a[i:ea], b[j:eb]); r != 0 {
				return r
			}
			i, j = ea, eb
			continue
		}
		ea, eb := span(a, i, isAlpha), span(b, j, isAlpha)
		n := min(ea-i, eb-j)
		if r := cmp.Compare(a[i:i+n], b[j:j+n]); r != 0 {
			return r
		}
		if r := cmp.Compare(ea-i, eb-j); r != 0 {
			return r
		}
		i, j = ea, eb
	}
}

// prefixOrder: the side carrying prefix p is the older one.
func prefixOrder(ca, cb, p byte) int {
	return cmpBool(ca != p, cb != p)
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func span(s string, i int, f func(byte) bool) int {
	for i < len(s) && f(s[i]) {
		i++
	}
	return i
}

func versionChar(c byte) bool {
	return isDigit(c) || isAlpha(c) || c == '~' || c == '-' || c == '^' || c == '.'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// cmpBool orders false before true (cmp.Compare takes no bools).
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}
