package unitfile

import (
	"fmt"
	"strconv"
	"strings"
)

// splitWords splits a value into words as systemd does for command lines
// and lists: separated by whitespace, quoted with "" or ” (quotes
// removed), with C escapes (\n, \t, \\, \", \', \xNN, \NNN octal) inside
// and outside quotes.
func splitWords(v string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\'') && !inWord:
			quote, inWord = c, true
		case quote == 0 && (c == ' ' || c == '\t' || c == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(v) {
				return nil, fmt.Errorf("a backslash at the end of %q", v)
			}
			n, r, err := unescape(v[i+1:])
			if err != nil {
				return nil, fmt.Errorf("%w in %q", err, v)
			}
			cur.WriteString(r)
			i += n
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("an unterminated %c quote in %q", quote, v)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unescape decodes the escape after a backslash at the start of s and
// returns how many bytes it took and what it stands for.
func unescape(s string) (int, string, error) {
	switch s[0] {
	case 'n':
		return 1, "\n", nil
	case 't':
		return 1, "\t", nil
	case 'r':
		return 1, "\r", nil
	case 'a':
		return 1, "\a", nil
	case 'b':
		return 1, "\b", nil
	case 'f':
		return 1, "\f", nil
	case 'v':
		return 1, "\v", nil
	case 's':
		return 1, " ", nil
	case ';':
		return 1, `\;`, nil // for parseCommands: a semicolon that separates nothing
	case '\\', '"', '\'', ' ':
		return 1, string(s[0]), nil
	case 'x':
		if len(s) >= 3 {
			if b, err := strconv.ParseUint(s[1:3], 16, 8); err == nil {
				return 3, string([]byte{byte(b)}), nil
			}
		}
	case '0', '1', '2', '3':
		if len(s) >= 3 {
			if b, err := strconv.ParseUint(s[0:3], 8, 8); err == nil {
				return 3, string([]byte{byte(b)}), nil
			}
		}
	}
	return 0, "", fmt.Errorf(`an unknown escape \%c`, s[0])
}

// Command is one command line of an Exec directive.
type Command struct {
	// Argv is the command; Argv[0] is the program, absolute or found in
	// PATH. $NAME and ${NAME} in it are left for the agent to expand
	// unless NoExpand.
	Argv []string
	// The prefixes of the program: "-" IgnoreFailure, "+", "!" and "!!"
	// Privileged, "@" Arg0 (the second word, which is then not in Argv),
	// ":" NoExpand.
	IgnoreFailure bool
	Privileged    bool
	Arg0          string
	NoExpand      bool
}

// parseCommands reads the value of an Exec directive: one or more
// command lines separated by a lone ";" word.
func parseCommands(v string) ([]Command, error) {
	words, err := splitWords(v)
	if err != nil {
		return nil, err
	}
	var cmds []Command
	for len(words) > 0 {
		end := len(words)
		for i, w := range words {
			if w == ";" {
				end = i
				break
			}
		}
		line := words[:end]
		words = words[min(end+1, len(words)):]
		if len(line) == 0 {
			continue
		}
		for i, w := range line {
			if w == `\;` {
				line[i] = ";"
			}
		}
		c := Command{}
		prog := line[0]
		for len(prog) > 0 && strings.ContainsRune("@-:+!", rune(prog[0])) {
			switch prog[0] {
			case '-':
				c.IgnoreFailure = true
			case '+', '!':
				c.Privileged = true
			case ':':
				c.NoExpand = true
			case '@':
				if len(line) < 2 {
					return nil, fmt.Errorf("the @ prefix needs the argv[0] to give the program after it")
				}
				c.Arg0 = line[1]
				line = append([]string{line[0]}, line[2:]...)
			}
			prog = prog[1:]
		}
		if prog == "" {
			return nil, fmt.Errorf("no program in %q", v)
		}
		c.Argv = append([]string{prog}, line[1:]...)
		cmds = append(cmds, c)
	}
	return cmds, nil
}
