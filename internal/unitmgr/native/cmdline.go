package native

import (
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// command is one parsed Exec*= line. Quoting, escapes and specifiers are
// resolved at Load; environment variables are substituted at each exec, from
// the environment the process gets (see argv).
type command struct {
	line          string   // as written, for messages
	ignoreFailure bool     // "-": a failure does not fail the unit
	argv0         bool     // "@": the second word is argv[0]
	privileged    bool     // "+": run without User=/Group=
	noEnv         bool     // ":": no $VAR substitution
	words         []string // words[0] is the program
}

// parseCommand parses an Exec*= value following systemd.service(5) "Command
// lines". spec resolves a specifier letter (the character after '%').
func parseCommand(line string, spec func(byte) (string, error)) (command, error) {
	c := command{line: line}
	if strings.IndexByte(line, 0) >= 0 {
		return c, fmt.Errorf("NUL byte in command line")
	}
	rest, err := c.parsePrefix(strings.TrimLeft(line, " \t"))
	if err != nil {
		return c, err
	}
	c.words, err = unit.SplitWords(rest, spec)
	if err != nil {
		return c, err
	}
	if len(c.words) == 0 {
		return c, fmt.Errorf("empty command line")
	}
	if c.argv0 && len(c.words) < 2 {
		return c, fmt.Errorf("prefix @ needs a program and an argv[0]")
	}
	p := c.words[0]
	if strings.Contains(p, "/") && !strings.HasPrefix(p, "/") {
		return c, fmt.Errorf("program %q must be an absolute path or a bare name looked up in PATH", p)
	}
	return c, nil
}

// parsePrefix strips systemd's special executable prefixes.
func (c *command) parsePrefix(s string) (string, error) {
	seen := map[byte]bool{}
	for len(s) > 0 {
		ch := s[0]
		switch ch {
		case '-', '@', '+', ':':
		case '!':
			return "", fmt.Errorf("prefix ! (ambient capabilities) is not supported")
		default:
			return s, nil
		}
		if seen[ch] {
			return "", fmt.Errorf("prefix %c given twice", ch)
		}
		seen[ch] = true
		c.ignoreFailure = c.ignoreFailure || ch == '-'
		c.argv0 = c.argv0 || ch == '@'
		c.privileged = c.privileged || ch == '+'
		c.noEnv = c.noEnv || ch == ':'
		s = s[1:]
	}
	return s, nil
}

// argv returns the command's argv after $VAR substitution from env: a word
// that is exactly $NAME becomes the variable's value split at whitespace
// (zero or more words); elsewhere ${NAME} and $NAME are replaced verbatim and
// $$ is a literal $. The program word is never substituted.
func (c command) argv(env map[string]string) []string {
	out := []string{c.words[0]}
	for _, w := range c.words[1:] {
		if c.noEnv {
			out = append(out, w)
			continue
		}
		if name, ok := strings.CutPrefix(w, "$"); ok && validName(name) {
			out = append(out, strings.Fields(env[name])...)
			continue
		}
		out = append(out, replaceEnv(w, env))
	}
	return out
}

// replaceEnv substitutes ${NAME}, $NAME and $$ inside one word.
func replaceEnv(w string, env map[string]string) string {
	if !strings.Contains(w, "$") {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 >= len(w) {
			b.WriteByte(w[i])
			continue
		}
		rest := w[i+1:]
		switch {
		case rest[0] == '$':
			b.WriteByte('$')
			i++
		case rest[0] == '{':
			end := strings.IndexByte(rest, '}')
			if end < 0 || !validName(rest[1:end]) {
				b.WriteByte('$')
				continue
			}
			b.WriteString(env[rest[1:end]])
			i += end + 1
		default:
			n := nameLen(rest)
			if n == 0 {
				b.WriteByte('$')
				continue
			}
			b.WriteString(env[rest[:n]])
			i += n
		}
	}
	return b.String()
}

// nameLen is the length of the variable name at the start of s.
func nameLen(s string) int {
	n := 0
	for n < len(s) && (s[n] == '_' || isAlpha(s[n]) || (n > 0 && s[n] >= '0' && s[n] <= '9')) {
		n++
	}
	return n
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// validName reports whether s is an environment variable name.
func validName(s string) bool { return s != "" && nameLen(s) == len(s) }
