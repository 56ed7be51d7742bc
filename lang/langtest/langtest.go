// Package langtest runs Starlark test scripts in the vmtest dialect, for
// the tests of any package that provides builtins.
//
// # Test files
//
// RunTestdata runs every file matching a glob pattern. A file is split
// into chunks at lines consisting of exactly "---"; each chunk is run as
// a separate main module (a fresh lang.Loader, so a fresh module cache),
// with line numbers as in the whole file. A line may end with a comment
//
//	x = 1 // 0  ### "division by zero"
//
// whose Go-quoted string is a regular expression: the chunk must fail
// with an error attributed to that line, and the regular expression must
// match the error as rendered by lang.FormatError (message, positions and
// traceback, so a pattern can also check a position such as
// `lib/x.star:3:5`). A line may instead end with
//
//	x = 1 // 0  ###= ":7: floored division by zero"
//
// whose string, after the file and that line, must be exactly the first
// line of the error: the column and the whole message. An error is attributed to the innermost position
// that lies in the chunk's own file: the failing statement, or the load()
// statement through which an error in another module arrived. Every
// resolver error of the chunk's own file is attributed to its own line.
// An error where none is expected, and an expected error that does not
// happen, fail the test with file:line.
//
// Helper modules loaded by the tests belong in subdirectories, so that a
// pattern such as "testdata/*.star" does not run them as tests.
//
// # Environment of a chunk
//
// Predeclared: the caller's names, plus "assert" from
// go.starlark.net/starlarktest (assert.eq, assert.ne, assert.true,
// assert.lt, assert.contains, assert.fails(fn, regexp), assert.fail)
// unless the caller defines "assert". A failed assert.* reports to the
// Go test and lets the chunk continue; fail() stops it.
//
// The chunk runs with lang.DefaultLimits (and so the built-ins they
// bound). load(): @stdlib is the vmtest standard library (package stdlib); the
// library path is lang.LibPath(nil, $VMTEST_PATH), so a test can set it
// with t.Setenv. print() goes to t.Log. The context is t.Context().
package langtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
	"go.starlark.net/syntax"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/stdlib"
)

// RunTestdata runs each file matching pattern as a subtest named after
// the file, with predeclared names as described in the package
// documentation. It fails the test if no file matches.
func RunTestdata(t *testing.T, pattern string, predeclared starlark.StringDict) {
	t.Helper()
	RunTestdataFunc(t, pattern, func(*testing.T) starlark.StringDict { return predeclared })
}

// RunTestdataFunc is RunTestdata with predeclared names made afresh for
// each chunk by env, for builtins that keep state per script (declared
// machines, say). env receives the file's subtest.
func RunTestdataFunc(t *testing.T, pattern string, env func(t *testing.T) starlark.StringDict) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no test files match %s", pattern)
	}
	assert, err := starlarktest.LoadAssertModule()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			chunks, err := readChunks(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range chunks {
				predeclared := starlark.StringDict{"assert": assert["assert"]}
				for name, v := range env(t) {
					predeclared[name] = v
				}
				c.run(t, predeclared)
			}
		})
	}
}

// A chunk is one separately executed part of a test file.
type chunk struct {
	file string
	src  string         // padded with newlines so that lines match the file
	want map[int]string // line -> regexp source
}

// readChunks splits file at "---" lines and collects the ### expectations.
func readChunks(file string) ([]chunk, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var chunks []chunk
	line := 1
	for _, text := range strings.Split(string(data), "\n---\n") {
		c := chunk{file: filepath.Clean(file), src: strings.Repeat("\n", line-1) + text, want: map[int]string{}}
		for _, l := range strings.Split(text, "\n") {
			if _, after, ok := strings.Cut(l, "###"); ok {
				exact := strings.HasPrefix(after, "=")
				rest := strings.TrimSpace(strings.TrimPrefix(after, "="))
				pat, err := strconv.Unquote(rest)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: not a quoted string: %s", file, line, rest)
				}
				if exact {
					// the first line of the report, whole
					pat = "^" + regexp.QuoteMeta(fmt.Sprintf("%s:%d%s", filepath.Clean(file), line, pat)) + "(\n|$)"
				}
				if _, err := regexp.Compile(pat); err != nil {
					return nil, fmt.Errorf("%s:%d: %w", file, line, err)
				}
				c.want[line] = pat
			}
			line++
		}
		line++ // the "---" line
		chunks = append(chunks, c)
	}
	return chunks, nil
}

func (c chunk) run(t *testing.T, predeclared starlark.StringDict) {
	t.Helper()
	l := lang.New(lang.Config{
		Limits:      lang.DefaultLimits,
		Predeclared: predeclared,
		LibPath:     lang.LibPath(nil, os.Getenv("VMTEST_PATH")),
		Stdlib:      stdlib.FS(),
		Print:       func(_ *starlark.Thread, msg string) { t.Log(msg) },
		Setup:       func(thread *starlark.Thread) { starlarktest.SetReporter(thread, t) },
	})
	_, err := l.Exec(t.Context(), c.file, c.src)
	if err != nil {
		msg := lang.FormatError(err)
		lines := errorLines(err, c.file)
		if len(lines) == 0 {
			t.Errorf("\n%s: error outside the file: %s", c.file, msg)
		}
		for _, line := range lines {
			c.got(t, line, msg)
		}
	}
	for line, pat := range c.want {
		t.Errorf("\n%s:%d: expected error matching %q", c.file, line, pat)
	}
}

// got checks an error at line against the expectations, consuming them.
func (c chunk) got(t *testing.T, line int, msg string) {
	t.Helper()
	pat, ok := c.want[line]
	if !ok {
		t.Errorf("\n%s:%d: unexpected error:\n%s", c.file, line, msg)
		return
	}
	delete(c.want, line)
	if !regexp.MustCompile(pat).MatchString(msg) {
		t.Errorf("\n%s:%d: error does not match %q:\n%s", c.file, line, pat, msg)
	}
}

// errorLines returns the lines of file to which err is attributed: those
// of its syntax errors in file, or else the innermost frame in file of
// the Starlark call stacks along its chain (loads run on other threads,
// so a chain can hold several stacks).
func errorLines(err error, file string) []int {
	var lines []int
	var frame int
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *starlark.EvalError:
			for _, fr := range x.CallStack {
				if fr.Pos.Filename() == file {
					frame = int(fr.Pos.Line)
				}
			}
		case syntax.Error:
			if x.Pos.Filename() == file {
				lines = append(lines, int(x.Pos.Line))
			}
		case resolve.ErrorList:
			for _, e := range x {
				if e.Pos.Filename() == file && !slices.Contains(lines, int(e.Pos.Line)) {
					lines = append(lines, int(e.Pos.Line))
				}
			}
		}
	}
	if len(lines) == 0 && frame > 0 {
		lines = []int{frame}
	}
	return lines
}
