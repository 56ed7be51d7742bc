// Package unitfile reads systemd unit files: the participle grammar of
// their syntax (sections, Key=Value assignments, continuation lines,
// comments), the lookup of a unit by name (search path, templates,
// drop-ins, aliases, masks), and the subset of service semantics vmtest
// runs: a Service, ready to become a job.
package unitfile

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The lexer is line-based, as systemd.syntax(7) is: at the start of a
// line a comment (# or ;), a [Section] header or a key; after the key's
// "=", the value runs to the end of the line, except that a backslash
// before the newline continues it on the next line.
//
// It is linear in its input: every rule consumes what it scans, except
// Section, which scans to the line's end for a "]" it may not find; Junk
// then takes the rest of that line, so no stretch of a line is scanned
// twice. (Junk of one character made a line of "[" quadratic: 60 KB took
// a minute.)
var unitLexer = lexer.MustStateful(lexer.Rules{
	"Root": {
		{Name: "Newline", Pattern: `\r?\n`},
		{Name: "Space", Pattern: `[ \t]+`},
		{Name: "Comment", Pattern: `[#;][^\n]*`},
		{Name: "Section", Pattern: `\[[^\]\n]*\]`},
		{Name: "Key", Pattern: `[A-Za-z0-9_.@-]+`},
		{Name: "Equals", Pattern: `=`, Action: lexer.Push("Value")},
		{Name: "Junk", Pattern: `[^\n]+`},
	},
	"Value": {
		{Name: "Continuation", Pattern: `\\\r?\n`},
		{Name: "Text", Pattern: `[^\n\\]+|\\`},
		{Name: "EOL", Pattern: `\r?\n`, Action: lexer.Pop()},
	},
})

// syntaxFile is a unit file as the grammar sees it.
type syntaxFile struct {
	Entries []*syntaxEntry `parser:"Newline* ( @@ Newline* )*"`
}

type syntaxEntry struct {
	Pos     lexer.Position
	Section *string       `parser:"  @Section"`
	Assign  *syntaxAssign `parser:"| @@"`
}

type syntaxAssign struct {
	Key   string   `parser:"@Key Equals"`
	Value []string `parser:"@( Text | Continuation )* EOL?"`
}

var unitParser = participle.MustBuild[syntaxFile](participle.Lexer(unitLexer))

// Assignment is one Key=Value line of a unit file (after continuation
// lines are joined), with where it was.
type Assignment struct {
	Key, Value string
	File       string
	Line       int
}

// Where says where an assignment is: "file:line".
func (a Assignment) Where() string { return fmt.Sprintf("%s:%d", a.File, a.Line) }

// Section is a [Name] section's assignments, in order.
type Section struct {
	Name        string
	Assignments []Assignment
}

// parse reads one unit file; name is its path, for positions. It gives
// up with ctx's error when ctx is done.
func parse(ctx context.Context, name string, data []byte) ([]Section, error) {
	f, err := parseSyntax(ctx, name, data)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
		}
		return nil, syntaxError(name, data, err)
	}
	var sections []Section
	for _, e := range f.Entries {
		if e.Section != nil {
			sections = append(sections, Section{Name: strings.TrimSpace((*e.Section)[1 : len(*e.Section)-1])})
			continue
		}
		if len(sections) == 0 {
			head, rest := clip(e.Assign.Key + "=")
			return nil, fmt.Errorf("%s:%d: %s%s is outside of any [Section]", name, e.Pos.Line, head, rest)
		}
		var v strings.Builder
		for _, t := range e.Assign.Value {
			if strings.HasPrefix(t, "\\") && strings.TrimRight(t, "\r\n") == "\\" && len(t) > 1 {
				v.WriteByte(' ') // a continuation: the line break becomes a space
				continue
			}
			v.WriteString(t)
		}
		s := &sections[len(sections)-1]
		s.Assignments = append(s.Assignments, Assignment{
			Key: e.Assign.Key, Value: strings.TrimSpace(v.String()), File: name, Line: e.Pos.Line,
		})
	}
	return sections, nil
}

// syntaxError turns participle's error into one that shows the line, or
// its first maxQuoted bytes.
func syntaxError(name string, data []byte, err error) error {
	perr, ok := err.(participle.Error)
	if !ok {
		return fmt.Errorf("%s: %w", name, err)
	}
	line := perr.Position().Line
	return fmt.Errorf("%s:%d: %s is neither a [Section] header, a Key=Value assignment nor a comment",
		name, line, QuoteLine(lineAt(data, line)))
}

// lineAt returns line n (from 1) of data without its line break, or ""
// if there is none.
func lineAt(data []byte, n int) string {
	for ; n > 1; n-- {
		i := strings.IndexByte(string(data), '\n')
		if i < 0 {
			return ""
		}
		data = data[i+1:]
	}
	if i := strings.IndexByte(string(data), '\n'); i >= 0 {
		data = data[:i]
	}
	return strings.TrimSpace(string(data))
}

// maxQuoted is how much of a line an error quotes.
const maxQuoted = 200

// QuoteLine quotes s for an error message, Go-style, cut where the
// quoted text reaches 200 bytes (its first 200 characters, fewer if they
// need escapes), with how many bytes were left out: a 60 KB line makes a
// short error.
func QuoteLine(s string) string {
	n := 0
	for i, r := range s {
		w := len(strconv.QuoteRune(r)) - 2
		if r == '\'' {
			w = 1 // escaped in a rune, not in a string
		}
		if n+w > maxQuoted {
			return strconv.Quote(s[:i]) + more(len(s)-i)
		}
		n += w
	}
	return strconv.Quote(s)
}

// clip cuts s to its first 200 bytes (at a UTF-8 boundary) for an error
// message that shows it as it is, and says what it left out: "" or
// "... (N more bytes)".
func clip(s string) (head, rest string) {
	if len(s) <= maxQuoted {
		return s, ""
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], more(len(s) - cut)
}

// more says how many bytes an error left out.
func more(n int) string {
	if n == 1 {
		return "... (1 more byte)"
	}
	return fmt.Sprintf("... (%d more bytes)", n)
}

// parseSyntax lexes and parses data, checking ctx between tokens.
func parseSyntax(ctx context.Context, name string, data []byte) (*syntaxFile, error) {
	lex, err := unitLexer.LexString(name, string(data))
	if err != nil {
		return nil, err
	}
	syms := unitLexer.Symbols()
	peek, err := lexer.Upgrade(&ctxLexer{ctx: ctx, lex: lex}, syms["Space"], syms["Comment"])
	if err != nil {
		return nil, err
	}
	return unitParser.ParseFromLexer(peek)
}

// A ctxLexer is a lexer that stops with ctx's error when ctx is done.
// The parser works on the tokens it gives, in time linear in their number.
type ctxLexer struct {
	ctx context.Context
	lex lexer.Lexer
	n   int
}

func (l *ctxLexer) Next() (lexer.Token, error) {
	if l.n++; l.n%1024 == 0 && l.ctx.Err() != nil {
		return lexer.Token{}, context.Cause(l.ctx)
	}
	return l.lex.Next()
}
