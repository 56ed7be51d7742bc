package repl

import (
	"slices"
	"strings"
	"unicode"

	"go.starlark.net/starlark"
)

// keywords are completed at the start of a name, like globals.
var keywords = []string{
	"and", "break", "continue", "def", "elif", "else", "for", "if", "in",
	"lambda", "load", "not", "or", "pass", "return", "while",
}

// Complete implements Backend: the word before pos is a global name
// (with the builtins, the machines and Starlark's universe) or an
// attribute path (server.wa, nodes.db.con); a candidate that is callable
// is completed with "(", as Python's rlcompleter does. While a chunk is
// being evaluated there are no completions.
func (s *Session) Complete(line string, pos int) ([]string, int) {
	if !s.mu.TryLock() {
		return nil, 0
	}
	defer s.mu.Unlock()
	runes := []rune(line)
	pos = min(max(pos, 0), len(runes))
	start := pos
	for start > 0 && isWordRune(runes[start-1]) {
		start--
	}
	word := string(runes[start:pos])
	var cands []string
	partial := word
	if i := strings.LastIndexByte(word, '.'); i >= 0 {
		base, ok := s.resolvePath(word[:i])
		if !ok {
			return nil, 0
		}
		partial = word[i+1:]
		cands = attrCompletions(base, partial)
	} else {
		if word != "" && unicode.IsDigit(runes[start]) {
			return nil, 0
		}
		cands = s.globalCompletions(partial)
	}
	n := len([]rune(partial))
	rest := make([]string, len(cands))
	for i, c := range cands {
		rest[i] = string([]rune(c)[n:])
	}
	return rest, n
}

func isWordRune(r rune) bool {
	return r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// resolvePath returns the value of a dotted path of names: a global, then
// its attributes.
func (s *Session) resolvePath(path string) (starlark.Value, bool) {
	names := strings.Split(path, ".")
	v, ok := s.globals[names[0]]
	if !ok {
		v, ok = starlark.Universe[names[0]]
	}
	if !ok {
		return nil, false
	}
	for _, name := range names[1:] {
		h, ok := v.(starlark.HasAttrs)
		if !ok {
			return nil, false
		}
		attr, err := h.Attr(name)
		if err != nil || attr == nil {
			return nil, false
		}
		v = attr
	}
	return v, true
}

// globalCompletions returns the global names, universe names and
// keywords that start with prefix, sorted.
func (s *Session) globalCompletions(prefix string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(name string, v starlark.Value) {
		if seen[name] || !strings.HasPrefix(name, prefix) || name == "_" && prefix == "" {
			return
		}
		seen[name] = true
		out = append(out, name+callSuffix(v))
	}
	for name, v := range s.globals {
		add(name, v)
	}
	for name, v := range starlark.Universe {
		add(name, v)
	}
	for _, k := range keywords {
		add(k, nil)
	}
	slices.Sort(out)
	return out
}

// attrCompletions returns the attributes of v that start with prefix.
func attrCompletions(v starlark.Value, prefix string) []string {
	h, ok := v.(starlark.HasAttrs)
	if !ok {
		return nil
	}
	var out []string
	for _, name := range h.AttrNames() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		attr, _ := h.Attr(name)
		out = append(out, name+callSuffix(attr))
	}
	slices.Sort(out)
	return out
}

// callSuffix is "(" for a callable value.
func callSuffix(v starlark.Value) string {
	if _, ok := v.(starlark.Callable); ok {
		return "("
	}
	return ""
}
