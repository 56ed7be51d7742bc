package lang

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FormatError renders err for a user, on several lines without a final
// newline:
//
//	file:line:col: message
//	Traceback (most recent call last):
//	  file:line:col: in <toplevel>
//	  file:line:col: in function

// The first line names the innermost Starlark position outside @stdlib
// modules (so a failed library assertion points at its caller) and the
// innermost message. The traceback runs from the main file through every load() and
// call to that position; an error in a loaded module continues the
// loading file's traceback at its load statement, and a built-in that
// calls back into Starlark (subtest, retry) shows as "<builtin>: in name".
// The frame of the failing built-in itself is left out, as Starlark's
// own Backtrace does.
//
// Syntax and name-resolution errors produce one "file:line:col: message"
// line per error (the parser stops at its first; the resolver reports
// all), followed by the traceback of the load statements that led to the
// file, if any. Any other error is returned as err.Error().
func FormatError(err error) string {
	r := analyze(err)
	var b strings.Builder
	b.WriteString(strings.Join(r.head, "\n"))
	if len(r.frames) > 0 {
		b.WriteString("\nTraceback (most recent call last):")
		lines := traceLines(r.frames)
		if len(lines) > 2*maxTraceHalf {
			n := len(lines) - 2*maxTraceHalf
			lines = slices.Concat(lines[:maxTraceHalf],
				[]string{fmt.Sprintf("  [%d more lines]", n)},
				lines[len(lines)-maxTraceHalf:])
		}
		for _, line := range lines {
			b.WriteString("\n")
			b.WriteString(line)
		}
	}
	return b.String()
}

// maxTraceHalf is how many traceback lines are kept at each end of a
// long traceback (deep recursion goes to 100000 frames).
const maxTraceHalf = 20

// traceLines returns a line per frame, except that a run of more than
// three identical frames (direct recursion) shows the first three and
// "[previous line repeated N more times]", as Python does.
func traceLines(frames starlark.CallStack) []string {
	var lines []string
	for i := 0; i < len(frames); {
		j := i + 1
		for j < len(frames) && frames[j] == frames[i] {
			j++
		}
		line := fmt.Sprintf("  %s: in %s", frames[i].Pos, frames[i].Name)
		for k := 0; k < min(j-i, 3); k++ {
			lines = append(lines, line)
		}
		if j-i > 3 {
			lines = append(lines, fmt.Sprintf("  [previous line repeated %d more times]", j-i-3))
		}
		i = j
	}
	return lines
}

// A report is an error taken apart for FormatError.
type report struct {
	head   []string // "file:line:col: message" lines
	frames starlark.CallStack
	// positions of the head lines, when they come from syntax errors
	syntaxPos []syntax.Position
}

const builtinFile = "<builtin>"

// cancelledPrefix begins the message of a cancelled thread.
const cancelledPrefix = "Starlark computation cancelled: "

func analyze(err error) report {
	var evals []*starlark.EvalError
	var leaf error
walk:
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch x := e.(type) {
		case *starlark.EvalError:
			evals = append(evals, x)
		case syntax.Error, resolve.ErrorList:
			leaf = x
			break walk
		}
	}

	var r report
	for _, ev := range evals {
		if isPrefix(r.frames, ev.CallStack) {
			r.frames = slices.Clone(ev.CallStack) // a builtin re-raised a callee's error
		} else {
			r.frames = append(r.frames, ev.CallStack...) // a load: another thread
		}
	}
	for len(r.frames) > 0 && r.frames[len(r.frames)-1].Pos.Filename() == builtinFile {
		r.frames = r.frames[:len(r.frames)-1]
	}

	switch x := leaf.(type) {
	case syntax.Error:
		r.head = []string{x.Error()}
		r.syntaxPos = []syntax.Position{x.Pos}
	case resolve.ErrorList:
		for _, e := range x {
			r.head = append(r.head, e.Error())
			r.syntaxPos = append(r.syntaxPos, e.Pos)
		}
	default:
		if len(evals) == 0 {
			r.head = []string{err.Error()}
			break
		}
		msg := evals[len(evals)-1].Msg
		if reason, ok := strings.CutPrefix(msg, cancelledPrefix); ok && strings.HasPrefix(reason, "the script ") {
			msg = reason // a limit (see Limits) says what happened itself
		}
		if pos, ok := headPos(r.frames); ok {
			msg = pos.String() + ": " + msg
		}
		r.head = []string{msg}
	}
	return r
}

// headPos returns the position for the first line of a report: that of
// the innermost frame outside @stdlib, or of the innermost frame if all
// are in @stdlib. (A failed assert_eq is reported at the caller's line,
// as Go's t.Helper does; the traceback still shows the library frames.)
func headPos(frames starlark.CallStack) (syntax.Position, bool) {
	for i := len(frames) - 1; i >= 0; i-- {
		if !strings.HasPrefix(frames[i].Pos.Filename(), stdlibPrefix) {
			return frames[i].Pos, true
		}
	}
	if len(frames) > 0 {
		return frames[len(frames)-1].Pos, true
	}
	return syntax.Position{}, false
}

func isPrefix(prefix, stack starlark.CallStack) bool {
	if len(prefix) == 0 || len(prefix) > len(stack) {
		return false
	}
	for i, fr := range prefix {
		if fr.Name != stack[i].Name || fr.Pos != stack[i].Pos {
			return false
		}
	}
	return true
}

// located is an error from executing a module; its message is the first
// line of FormatError, so it carries a position.
type located struct{ err error }

func (e *located) Error() string { return analyze(e.err).head[0] }
func (e *located) Unwrap() error { return e.err }

// Hint returns err with "did you mean" suggestions added to resolver
// errors "undefined: name" that have none, drawn from the Loader's
// predeclared names and the Starlark universe. (The resolver itself only
// suggests local and global names of the file.) Other errors are returned
// unchanged. Exec and Load apply it; it is exported for REPLs that call
// starlark.ExecREPLChunk themselves.
func (l *Loader) Hint(err error) error {
	list, ok := err.(resolve.ErrorList)
	if !ok {
		return err
	}
	var names []string
	for name := range l.cfg.Predeclared {
		names = append(names, name)
	}
	for name := range starlark.Universe {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make(resolve.ErrorList, len(list))
	for i, e := range list {
		if name, ok := strings.CutPrefix(e.Msg, "undefined: "); ok && !strings.Contains(name, " ") {
			if s := Suggest(name, names); s != "" {
				e.Msg += " (did you mean " + s + "?)"
			}
		}
		out[i] = e
	}
	return out
}

// UnexpectedKeyword returns the error of a built-in fnname called with an
// unknown keyword argument name, suggesting the nearest of known:
// `machine: unexpected keyword argument "memroy" (did you mean memory?)`.
// It matches the message of starlark.UnpackArgs, which already does
// this for declared parameters; use it where keywords are checked by hand
// (**config). For attributes, return starlark.NoSuchAttrError (or nil,
// nil) from Attr: Starlark then adds " (did you mean .name?)" itself.
func UnexpectedKeyword(fnname, name string, known []string) error {
	msg := fmt.Sprintf("%s: unexpected keyword argument %q", fnname, name)
	if s := Suggest(name, known); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return errors.New(msg)
}

// Suggest returns the candidate nearest to name by Levenshtein distance,
// ignoring case and underscores, or "" if none is within half the length
// of name (as Starlark's own spelling hints). Ties go to the earliest
// candidate.
func Suggest(name string, candidates []string) string {
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	x := []rune(fold(name))
	best, bestD := "", (len(x)+1)/2
	for _, c := range candidates {
		if d := levenshtein(x, []rune(fold(c))); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein returns the edit distance between x and y, counting a
// transposition of adjacent runes as one edit.
func levenshtein(x, y []rune) int {
	// Three rows of the optimal-string-alignment table: a swap of two
	// adjacent letters ("exce" for "exec") counts as one edit, as typos do.
	prev2 := make([]int, len(y)+1)
	prev := make([]int, len(y)+1)
	row := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		row[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			row[j] = min(prev[j-1]+cost, prev[j]+1, row[j-1]+1)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				row[j] = min(row[j], prev2[j-2]+1)
			}
		}
		prev2, prev, row = prev, row, prev2
	}
	return prev[len(y)]
}
