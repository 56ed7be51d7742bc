package lang

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.starlark.net/syntax"
)

// explainSyntax returns a syntax error of the file src said so that a
// user knows what to do:
//
//   - a bracket left open is named where it opens, not where the parser
//     gave up ("got identifier, want ','" on the next statement);
//   - a character Starlark does not accept and that text editors and web
//     pages put in files unseen (a byte-order mark, a no-break space,
//     curly quotes) is named, with the way to remove or replace it.
//
// Any other error is returned as it is.
func explainSyntax(err error, src []byte) error {
	e, ok := err.(syntax.Error)
	if !ok {
		return err
	}
	if msg, ok := explainCharacter(e, src); ok {
		e.Msg = msg
		return e
	}
	if !strings.HasPrefix(e.Msg, "got ") {
		return e
	}
	if msg, ok := explainToken(e.Msg); ok {
		e.Msg = msg
		return e
	}
	open, ok := unclosedBracket(src, e.Pos, strings.HasPrefix(e.Msg, "got end of file"))
	if !ok {
		return e
	}
	at := e.Pos
	e.Pos.Line, e.Pos.Col = open.line, open.col
	e.Msg = fmt.Sprintf("this '%s' is never closed (at %d:%d: %s)", open.char, at.Line, at.Col, e.Msg)
	return e
}

// gotWant is the parser's message for a token it did not want.
var gotWant = regexp.MustCompile(`^got (\S+), want (.+)$`)

// pythonOnly are Python's keywords that Starlark reserves and does not
// have, with what to write instead.
var pythonOnly = map[string]string{
	"import": `load("module.star", "name") imports a name`,
	"from":   `load("module.star", "name") imports a name`,
	"class":  "a dict, or functions, hold what a class would",
	"try":    "an error ends the script; retry() or assert.fails() handle an expected one",
	"except": "an error ends the script; retry() or assert.fails() handle an expected one",
	"raise":  `fail("message") ends the script with an error`,
	"with":   "call the function that opens and closes around the code",
	"yield":  "return a list",
	"global": "a function cannot assign a global; return the value",
	"del":    "assign another value, or use dict.pop()",
	"assert": `assert_true(x) and assert_eq(a, b) of @stdlib//assert.star check a condition`,
}

// explainToken says again the parser's complaints that a Python habit
// or a misplaced indentation causes.
func explainToken(msg string) (string, bool) {
	m := gotWant.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	switch {
	case pythonOnly[m[1]] != "":
		return fmt.Sprintf("%s is Python, not Starlark: %s", m[1], pythonOnly[m[1]]), true
	case m[1] == "indent":
		return "unexpected indentation: this line is indented, but the line before it does not end in ':'", true
	case m[2] == "indent":
		return fmt.Sprintf("want an indented block after the line ending in ':', got %s", m[1]), true
	}
	return "", false
}

// unexpectedChar is the scanner's message for a character it refuses.
var unexpectedChar = regexp.MustCompile(`^unexpected input character '(.*)'$`)

// lookalikes are characters that reach a file unseen, and what to do.
var lookalikes = map[rune]string{
	'\ufeff': "a UTF-8 byte-order mark (the bytes EF BB BF), which some editors write at the start of a file; remove it, e.g. with sed -i '1s/^\\xEF\\xBB\\xBF//' FILE, or save the file as UTF-8 without BOM",
	'\u00a0': "a no-break space (U+00A0), often pasted from a web page or a word processor; replace it with a plain space",
	'\u200b': "a zero-width space (U+200B), invisible, often pasted from a web page; delete it",
	'\u2018': "a curly quote (U+2018); Starlark strings take straight quotes, ' or \"",
	'\u2019': "a curly quote (U+2019); Starlark strings take straight quotes, ' or \"",
	'\u201c': "a curly quote (U+201C); Starlark strings take straight quotes, \" or '",
	'\u201d': "a curly quote (U+201D); Starlark strings take straight quotes, \" or '",
	'\u2013': "an en dash (U+2013); the minus sign is -",
	'\u2014': "an em dash (U+2014); the minus sign is -",
}

// explainCharacter returns the message for an unexpected character that
// is one of the lookalikes.
func explainCharacter(e syntax.Error, src []byte) (string, bool) {
	m := unexpectedChar.FindStringSubmatch(e.Msg)
	if m == nil {
		return "", false
	}
	r, size := utf8.DecodeRuneInString(unquoteRune(m[1]))
	if size == 0 {
		return "", false
	}
	what, ok := lookalikes[r]
	if !ok {
		return "", false
	}
	return "unexpected character: " + strings.ReplaceAll(what, "FILE", shellQuote(e.Pos.Filename())), true
}

// shellQuote quotes a file name for a command to type.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// unquoteRune undoes the %#q quoting of the scanner's message: a rune
// as itself, or a \u escape.
func unquoteRune(s string) string {
	var r rune
	if _, err := fmt.Sscanf(s, `\u%04x`, &r); err == nil {
		return string(r)
	}
	return s
}

// A bracket is an opening bracket in a source file.
type bracket struct {
	char      string // "(", "[" or "{"
	line, col int32
	indent    int32 // the column of the first token of its line
}

// unclosedBracket returns the innermost bracket still open at pos and
// opened on an earlier line, if the parser's complaint at pos means that
// it was never closed: pos is the end of the file (eof), or pos's line
// begins no further right than the line of the bracket does (a new
// statement). (pos is where the parser stopped: the end of the token it
// did not want.)
func unclosedBracket(src []byte, pos syntax.Position, eof bool) (bracket, bool) {
	stack, indent, atEOF := openBrackets(src, pos)
	if indent < 0 {
		indent = pos.Col // the token at pos begins its line
	}
	for i := len(stack) - 1; i >= 0; i-- {
		b := stack[i]
		if b.line == pos.Line {
			continue
		}
		if eof || atEOF || indent <= b.indent {
			return b, true
		}
		break
	}
	return bracket{}, false
}

// openBrackets scans src up to pos and returns the brackets open there,
// the column of the first token of pos's line (-1 if none is before
// pos), and whether the file ends before pos. Strings and comments are
// skipped as Starlark's scanner reads them; positions count runes, as
// its do.
func openBrackets(src []byte, pos syntax.Position) (stack []bracket, indent int32, atEOF bool) {
	s := scanner{src: src, line: 1, col: 1}
	indent = -1 // column of the current line's first token
	for {
		if s.line > pos.Line || s.line == pos.Line && s.col >= pos.Col {
			return stack, indent, false
		}
		if s.eof() {
			return stack, indent, true
		}
		c := s.peek()
		switch {
		case c == '\n':
			s.next()
			indent = -1
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\\':
			s.next()
			continue
		}
		if indent < 0 {
			indent = s.col
		}
		switch {
		case c == '#':
			for !s.eof() && s.peek() != '\n' {
				s.next()
			}
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, bracket{char: string(c), line: s.line, col: s.col, indent: indent})
			s.next()
		case c == ')' || c == ']' || c == '}':
			// A bracket that does not match the open one closes
			// nothing: the parser stops there.
			if len(stack) > 0 && closing[stack[len(stack)-1].char] == c {
				stack = stack[:len(stack)-1]
			}
			s.next()
		case c == '"' || c == '\'':
			s.skipString()
		default:
			s.next()
		}
	}
}

// closing is the closing bracket of each opening one.
var closing = map[string]rune{"(": ')', "[": ']', "{": '}'}

// A scanner walks a source file rune by rune, counting lines and
// columns.
type scanner struct {
	src       []byte
	line, col int32
}

func (s *scanner) eof() bool { return len(s.src) == 0 }

func (s *scanner) peek() rune {
	r, _ := utf8.DecodeRune(s.src)
	return r
}

func (s *scanner) next() rune {
	r, size := utf8.DecodeRune(s.src)
	s.src = s.src[size:]
	if r == '\n' {
		s.line, s.col = s.line+1, 1
	} else {
		s.col++
	}
	return r
}

// skipString skips a string literal, single or triple quoted; a
// backslash escapes the next character, also in raw strings (as it does
// for where they end). An unclosed single-quoted string ends at its line.
func (s *scanner) skipString() {
	q := s.next()
	triple := len(s.src) >= 2 && rune(s.src[0]) == q && rune(s.src[1]) == q
	if triple {
		s.next()
		s.next()
	}
	for !s.eof() {
		switch c := s.peek(); {
		case c == '\\':
			s.next()
			if !s.eof() {
				s.next()
			}
		case c == '\n' && !triple:
			return
		case c == q:
			s.next()
			if !triple {
				return
			}
			if len(s.src) >= 2 && rune(s.src[0]) == q && rune(s.src[1]) == q {
				s.next()
				s.next()
				return
			}
		default:
			s.next()
		}
	}
}
