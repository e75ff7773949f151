package unit

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SplitWords splits s into words: whitespace separates words, single and
// double quotes group (anywhere in a word, as in a shell), C-style backslash
// escapes apply inside and outside quotes, and %x specifiers expand in place
// (their value is never split) through spec, e.g. Specifiers.Lookup.
// It is the grammar of systemd's command lines and word lists (ExecStart=,
// Environment=) and of the [Container] keys that take words.
func SplitWords(s string, spec func(byte) (string, error)) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '%':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%% at end of line (write %%%% for a literal %%)")
			}
			v, err := spec(s[i+1])
			if err != nil {
				return nil, err
			}
			cur.WriteString(v)
			i++
			inWord = true
		case ch == '\\':
			v, n, err := unescape(s[i+1:])
			if err != nil {
				return nil, err
			}
			cur.WriteString(v)
			i += n
			inWord = true
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

var simpleEscapes = map[byte]string{
	'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
	'\\': "\\", '"': "\"", '\'': "'", 's': " ", ' ': " ", ';': ";",
}

// unescape decodes the escape after a backslash; s starts after it. It
// returns the decoded text and how many bytes of s it used.
func unescape(s string) (string, int, error) {
	if s == "" {
		return "", 0, fmt.Errorf("backslash at end of line")
	}
	if v, ok := simpleEscapes[s[0]]; ok {
		return v, 1, nil
	}
	switch s[0] {
	case 'x':
		return numEscape(s, 1, 2, 16, false)
	case 'u':
		return numEscape(s, 1, 4, 16, true)
	case 'U':
		return numEscape(s, 1, 8, 16, true)
	case '0', '1', '2', '3':
		return numEscape(s, 0, 3, 8, false)
	}
	r, _ := utf8.DecodeRuneInString(s)
	return "", 0, fmt.Errorf("unknown escape \\%c", r)
}

// numEscape decodes digits digits of base from s[skip:].
func numEscape(s string, skip, digits, base int, isRune bool) (string, int, error) {
	end := skip + digits
	if len(s) < end {
		return "", 0, fmt.Errorf("short escape \\%s", s)
	}
	n, err := strconv.ParseUint(s[skip:end], base, 32)
	if err != nil {
		return "", 0, fmt.Errorf("bad escape \\%s", s[:end])
	}
	if n == 0 {
		return "", 0, fmt.Errorf("escape \\%s is a NUL byte", s[:end])
	}
	if isRune {
		if !utf8.ValidRune(rune(n)) {
			return "", 0, fmt.Errorf("bad escape \\%s", s[:end])
		}
		return string(rune(n)), end, nil
	}
	if n > 255 {
		return "", 0, fmt.Errorf("bad escape \\%s", s[:end])
	}
	return string([]byte{byte(n)}), end, nil
}
