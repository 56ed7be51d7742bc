package coverage

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

// goBlock is one basic block of a Go coverage profile: from line.col to
// line.col (the end column is one past the block), its number of
// statements and its count.
type goBlock struct {
	startLine, startCol, endLine, endCol int
	stmts                                int
	count                                int64
}

// parseGoProfile parses a Go coverage profile ("mode: set", then
// "file:l1.c1,l2.c2 stmts count" lines) into blocks per file name, in the
// order the files first appear.
func parseGoProfile(data []byte) (names []string, blocks map[string][]goBlock, err error) {
	blocks = map[string][]goBlock{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || n == 1 && strings.HasPrefix(line, "mode:") {
			continue
		}
		var b goBlock
		// The file name may contain colons; the block follows the last.
		i := strings.LastIndexByte(line, ':')
		if i < 0 {
			return nil, nil, fmt.Errorf("profile line %d: %q is not file:block stmts count", n, line)
		}
		name := line[:i]
		if _, err := fmt.Sscanf(line[i+1:], "%d.%d,%d.%d %d %d", &b.startLine, &b.startCol, &b.endLine, &b.endCol, &b.stmts, &b.count); err != nil {
			return nil, nil, fmt.Errorf("profile line %d: %q: %w", n, line, err)
		}
		// The positions come from what the guest's program wrote.
		if b.startLine < 1 || b.endLine < b.startLine || b.startCol < 0 || b.endCol < 0 || b.stmts < 0 {
			return nil, nil, fmt.Errorf("profile line %d: %q: want a block from line.column to a later one, with statements >= 0", n, line)
		}
		if _, seen := blocks[name]; !seen {
			names = append(names, name)
		}
		blocks[name] = append(blocks[name], b)
	}
	return names, blocks, sc.Err()
}

// goFileCov turns the blocks of one Go source file (its text src, for
// line contents and function extents) into line and function coverage.
//
// A line counts when a block with statements covers something on it
// besides braces, blanks and comments; its hits are the most of any such
// block (a line where a branch starts belongs to the statement before
// it). A function is every top-level function or method with statements
// (function literals count as part of theirs); its hits are the most of
// its blocks, so it is covered when it ran at all.
func goFileCov(src []byte, blocks []goBlock) *fileCov {
	fc := newFileCov()
	lines := strings.Split(string(src), "\n")
	for _, b := range blocks {
		if b.stmts == 0 {
			continue
		}
		for l := max(b.startLine, 1); l <= b.endLine && l <= len(lines); l++ {
			text := lines[l-1]
			from, to := 0, len(text)
			if l == b.endLine {
				to = min(max(b.endCol-1, 0), len(text))
			}
			if l == b.startLine {
				from = min(max(b.startCol-1, 0), to)
			}
			if !meaningful(text[from:to]) {
				continue
			}
			if old, ok := fc.lines[l]; !ok || b.count > old {
				fc.lines[l] = b.count
			}
		}
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.SkipObjectResolution)
	if err != nil {
		return fc // lines only: the source does not parse as the profile's
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		var hits int64 = -1
		for _, b := range blocks {
			if b.stmts > 0 && before(start.Line, start.Column, b.startLine, b.startCol) && before(b.startLine, b.startCol, end.Line, end.Column) {
				hits = max(hits, b.count)
			}
		}
		if hits >= 0 {
			fc.funcs[funcName(fd)] = &funcCov{line: start.Line, hits: hits}
		}
	}
	return fc
}

// before reports whether line l1 column c1 is at or before l2.c2.
func before(l1, c1, l2, c2 int) bool { return l1 < l2 || l1 == l2 && c1 <= c2 }

// meaningful reports whether a piece of a source line holds code: more
// than braces, parentheses, blanks and a comment.
func meaningful(s string) bool {
	if i := strings.Index(s, "//"); i >= 0 {
		s = s[:i]
	}
	return strings.Trim(s, " \t{}()") != ""
}

// funcName names a function as go tool cover -func does, with the
// receiver type for methods: "main", "T.String", "(*T).Close".
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	star := false
	if s, ok := t.(*ast.StarExpr); ok {
		t, star = s.X, true
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	recv := "?"
	if id, ok := t.(*ast.Ident); ok {
		recv = id.Name
	}
	if star {
		return "(*" + recv + ")." + fd.Name.Name
	}
	return recv + "." + fd.Name.Name
}

// SourcesError lists source files a report needs that are not on the
// host.
type SourcesError struct {
	Kind  string   // "C/C++" or "Go"
	Files []string // as the coverage data names them
	Hint  string   // where they were looked for
}

func (e *SourcesError) Error() string {
	return fmt.Sprintf("coverage: %d %s source file(s) the machines ran are not on the host:\n  %s\n%s",
		len(e.Files), e.Kind, strings.Join(e.Files, "\n  "), e.Hint)
}

// goTracefile converts a Go coverage profile into lcov records, finding
// each file's source with resolve. Files it cannot find are returned as
// missing (and left out).
func goTracefile(profile []byte, resolve func(string) (string, bool)) (t tracefile, missing []string, err error) {
	names, blocks, err := parseGoProfile(profile)
	if err != nil {
		return nil, nil, err
	}
	t = tracefile{}
	for _, name := range names {
		path, ok := resolve(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		t[path] = goFileCov(src, blocks[name])
	}
	return t, missing, nil
}
