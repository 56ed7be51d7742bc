// Package unitfile reads systemd unit files: the participle grammar of
// their syntax (sections, Key=Value assignments, continuation lines,
// comments), the lookup of a unit by name (search path, templates,
// drop-ins, aliases, masks), and the subset of service semantics vmtest
// runs: a Service, ready to become a job.
package unitfile

import (
	"fmt"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The lexer is line-based, as systemd.syntax(7) is: at the start of a
// line a comment (# or ;), a [Section] header or a key; after the key's
// "=", the value runs to the end of the line, except that a backslash
// before the newline continues it on the next line.
var unitLexer = lexer.MustStateful(lexer.Rules{
	"Root": {
		{Name: "Newline", Pattern: `\r?\n`},
		{Name: "Space", Pattern: `[ \t]+`},
		{Name: "Comment", Pattern: `[#;][^\n]*`},
		{Name: "Section", Pattern: `\[[^\]\n]*\]`},
		{Name: "Key", Pattern: `[A-Za-z0-9_.@-]+`},
		{Name: "Equals", Pattern: `=`, Action: lexer.Push("Value")},
		{Name: "Junk", Pattern: `[^\n]`},
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

var unitParser = participle.MustBuild[syntaxFile](
	participle.Lexer(unitLexer),
	participle.Elide("Space", "Comment"),
)

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

// parse reads one unit file; name is its path, for positions.
func parse(name string, data []byte) ([]Section, error) {
	f, err := unitParser.ParseBytes(name, data)
	if err != nil {
		return nil, syntaxError(name, data, err)
	}
	var sections []Section
	for _, e := range f.Entries {
		if e.Section != nil {
			sections = append(sections, Section{Name: strings.TrimSpace((*e.Section)[1 : len(*e.Section)-1])})
			continue
		}
		if len(sections) == 0 {
			return nil, fmt.Errorf("%s:%d: %s= is outside of any [Section]", name, e.Pos.Line, e.Assign.Key)
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

// syntaxError turns participle's error into one that shows the line.
func syntaxError(name string, data []byte, err error) error {
	perr, ok := err.(participle.Error)
	if !ok {
		return fmt.Errorf("%s: %w", name, err)
	}
	line := perr.Position().Line
	lines := strings.Split(string(data), "\n")
	text := ""
	if line >= 1 && line <= len(lines) {
		text = strings.TrimSpace(lines[line-1])
	}
	return fmt.Errorf("%s:%d: %q is neither a [Section] header, a Key=Value assignment nor a comment", name, line, text)
}
