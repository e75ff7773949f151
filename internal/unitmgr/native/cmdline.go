package native

import (
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// command is one parsed command of an Exec*= line. Quoting, escapes and
// specifiers are resolved at Load; environment variables are substituted
// at each exec, from the environment the process gets (see argv).
type command struct {
	line          string   // the whole Exec*= value, for messages
	ignoreFailure bool     // "-": a failure does not fail the unit
	argv0         bool     // "@": the second word is argv[0]
	privileged    bool     // "+": run without User=/Group=
	noEnv         bool     // ":": no $VAR substitution
	words         []string // words[0] is the program
}

// parseCommands parses an Exec*= value following systemd.service(5)
// "Command lines" and config_parse_exec: a lone ";" separates commands
// (each added to the key's list in order, so ExecStart= of a service that
// is not Type=oneshot may hold only one), "\;" is a literal ";" argument.
// spec resolves a specifier letter (the character after '%').
func parseCommands(line string, spec func(byte) (string, error)) ([]command, error) {
	if strings.IndexByte(line, 0) >= 0 {
		return nil, fmt.Errorf("NUL byte in command line")
	}
	cmds, err := unit.SplitCommandLine(line, spec)
	if err != nil {
		return nil, err
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("empty command line")
	}
	out := make([]command, 0, len(cmds))
	for _, words := range cmds {
		c := command{line: line}
		if err := c.setWords(words); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// setWords strips the prefixes of words[0] and checks the program.
func (c *command) setWords(words []string) error {
	first, err := c.parsePrefix(words[0])
	if err != nil {
		return err
	}
	if first == "" {
		return fmt.Errorf("empty command line: prefix %q names no program", words[0])
	}
	c.words = append([]string{first}, words[1:]...)
	if c.argv0 && len(c.words) < 2 {
		return fmt.Errorf("prefix @ needs a program and an argv[0]")
	}
	p := c.words[0]
	if strings.Contains(p, "/") && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("program %q must be an absolute path or a bare name looked up in PATH", p)
	}
	return nil
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

// argv returns the command's argv after $VAR substitution from env, as
// systemd's replace_env_argv does: a word that starts with "$" (not "${"
// or "$$") is replaced by the words of that variable's value, split at
// whitespace with quotes removed, or by none when the variable is unset or
// the rest of the word is not a variable name; in any other word only
// ${NAME} (empty when unset) and $$ (a literal $) are replaced, so
// `sh -c 'echo $f'` passes $f through. The program word is never
// substituted.
func (c command) argv(env map[string]string) []string {
	out := []string{c.words[0]}
	for _, w := range c.words[1:] {
		switch {
		case c.noEnv:
			out = append(out, w)
		case len(w) > 0 && w[0] == '$' && (len(w) == 1 || (w[1] != '{' && w[1] != '$')):
			if name := w[1:]; validName(name) {
				if v, ok := env[name]; ok {
					out = append(out, splitEnvValue(v)...)
				}
			}
		default:
			out = append(out, replaceEnv(w, env))
		}
	}
	return out
}

// replaceEnv substitutes ${NAME} and $$ inside one word, as systemd's
// replace_env without REPLACE_ENV_ALLOW_BRACELESS or _EXTENDED: $NAME is
// kept as written, ${NAME:-x} and an unterminated ${ are kept as written,
// ${} and ${bad name} are empty.
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
		switch w[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexAny(w[i+2:], "}:")
			if end < 0 || w[i+2+end] == ':' {
				b.WriteByte('$') // not a substitution: the rest stays as written
				continue
			}
			if name := w[i+2 : i+2+end]; validName(name) {
				b.WriteString(env[name])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// splitEnvValue splits a variable's value into words as systemd's
// strv_split_full(EXTRACT_RELAX|EXTRACT_UNQUOTE) does: whitespace
// separates, quotes group and are removed (an unterminated one ends at the
// end), a backslash takes the next character as it is.
func splitEnvValue(v string) []string {
	var words []string
	var b strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '\\':
			inWord = true
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				b.WriteByte(ch)
			}
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
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
