package unit

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SplitWords splits s into words as systemd's extract_first_word does with
// EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE and its relaxed retry
// (extract_first_word_and_warn): whitespace separates words, single and
// double quotes group (anywhere in a word, as in a shell), C escapes apply
// inside and outside quotes, and an escape systemd does not know (\w, \;,
// "\ ") is kept as written, backslash included. Then the specifiers in
// each word are expanded through spec (e.g. Specifiers.Lookup; nil expands
// nothing) by ExpandWith's rules, so a value is never split. It is the
// grammar of systemd's command lines and word lists (ExecStart=,
// Environment=) and of the [Container] keys that take words.
func SplitWords(s string, spec func(byte) (string, error)) ([]string, error) {
	var words []string
	sc := wordScanner{s: s}
	for {
		w, ok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return words, nil
		}
		if w, err = expandWord(w, spec); err != nil {
			return nil, err
		}
		words = append(words, w)
	}
}

// SplitCommandLine splits the value of an Exec*= key into commands as
// systemd's config_parse_exec does: a word that is a lone ';' (unquoted,
// followed by whitespace or the end) ends one command and starts the next,
// a lone "\;" is a literal ";" argument, and every other word is as in
// SplitWords. Empty commands (";;", a trailing ';') are dropped. The first
// word of each command still carries its prefixes (-@+:!).
func SplitCommandLine(s string, spec func(byte) (string, error)) ([][]string, error) {
	var cmds [][]string
	var cur []string
	sc := wordScanner{s: s}
	for {
		sc.skipSpace()
		switch rest := sc.s[sc.i:]; {
		case isLoneWord(rest, ";"):
			sc.i++
			if len(cur) > 0 {
				cmds = append(cmds, cur)
			}
			cur = nil
			continue
		case isLoneWord(rest, `\;`):
			sc.i += 2
			cur = append(cur, ";")
			continue
		}
		w, ok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if w, err = expandWord(w, spec); err != nil {
			return nil, err
		}
		cur = append(cur, w)
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds, nil
}

// HasUnknownEscape reports whether an Exec line that SplitCommandLine
// accepts holds an escape systemd does not know (kept as written), for
// which systemd logs "Ignoring unknown escape sequences". A lone "\;" is
// not one.
func HasUnknownEscape(s string) bool {
	sc := wordScanner{s: s, strict: true}
	for {
		sc.skipSpace()
		if isLoneWord(sc.s[sc.i:], `\;`) {
			sc.i += 2
			continue
		}
		_, ok, err := sc.next()
		if err != nil {
			return true
		}
		if !ok {
			return false
		}
	}
}

// isLoneWord reports whether s starts with tok followed by whitespace or
// the end.
func isLoneWord(s, tok string) bool {
	return strings.HasPrefix(s, tok) && (len(s) == len(tok) || isSpace(s[len(tok)]))
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SplitWordsStrict splits s into words as SplitWords does but without
// the relaxed retry, as systemd's config_parse_environ calls
// extract_first_word: an escape systemd does not know is an error. It
// expands no specifiers (Environment= expands them per word, ignoring a
// word that fails).
func SplitWordsStrict(s string) ([]string, error) {
	var words []string
	sc := wordScanner{s: s, strict: true}
	for {
		w, ok, err := sc.next()
		if err != nil || !ok {
			return words, err
		}
		words = append(words, w)
	}
}

// wordScanner reads systemd words from s, one at a time.
type wordScanner struct {
	s      string
	i      int
	strict bool // unknown escapes are errors rather than kept
}

func (sc *wordScanner) skipSpace() {
	for sc.i < len(sc.s) && isSpace(sc.s[sc.i]) {
		sc.i++
	}
}

// next returns the next word, unquoted and unescaped; ok is false at the end.
func (sc *wordScanner) next() (word string, ok bool, err error) {
	sc.skipSpace()
	if sc.i >= len(sc.s) {
		return "", false, nil
	}
	var b strings.Builder
	quote := byte(0)
	for ; sc.i < len(sc.s); sc.i++ {
		ch := sc.s[sc.i]
		switch {
		case ch == '\\':
			rest := sc.s[sc.i+1:]
			if rest == "" {
				if quote != 0 || sc.strict {
					return "", false, fmt.Errorf("backslash at end of line")
				}
				b.WriteByte('\\') // systemd keeps an unquoted trailing backslash
				continue
			}
			v, n, err := unescape(rest)
			if err != nil && sc.strict {
				return "", false, err
			}
			if err != nil {
				// An escape systemd does not know: kept as written.
				b.WriteByte('\\')
				b.WriteByte(rest[0])
				sc.i++
				continue
			}
			b.WriteString(v)
			sc.i += n
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				b.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote = ch
		case isSpace(ch):
			return b.String(), true, nil
		default:
			b.WriteByte(ch)
		}
	}
	if quote != 0 {
		return "", false, fmt.Errorf("unterminated %c quote", quote)
	}
	return b.String(), true, nil
}

var simpleEscapes = map[byte]string{
	'a': "\a", 'b': "\b", 'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v",
	'\\': "\\", '"': "\"", '\'': "'", 's': " ",
}

// unescape decodes the escape after a backslash as systemd's cunescape_one
// does; s starts after the backslash and is not empty. It returns the
// decoded text and how many bytes of s it used, or an error for an escape
// systemd does not know or rejects (a NUL, a short or bad number).
func unescape(s string) (string, int, error) {
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
	case '0', '1', '2', '3', '4', '5', '6', '7':
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
