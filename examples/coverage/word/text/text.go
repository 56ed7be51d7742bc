// Package text is what the word service does to text, shared by its
// server (wordd) and client (word).
package text

import (
	"fmt"
	"strings"
)

// Modes are the operations the service offers, by name.
var Modes = []string{"count", "upper", "title"}

// CheckMode reports whether mode is one of Modes.
func CheckMode(mode string) error {
	for _, m := range Modes {
		if m == mode {
			return nil
		}
	}
	return fmt.Errorf("unknown mode %q (want one of %s)", mode, strings.Join(Modes, ", "))
}

// Apply runs the operation mode on s.
func Apply(mode, s string) (string, error) {
	switch mode {
	case "count":
		return Count(s), nil
	case "upper":
		return strings.ToUpper(s), nil
	case "title":
		return Title(s), nil
	}
	return "", CheckMode(mode)
}

// Count says how many words and lines s has.
func Count(s string) string {
	lines := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		lines++
	}
	return fmt.Sprintf("%d words, %d lines\n", len(strings.Fields(s)), lines)
}

// Title capitalises the first letter of every word.
func Title(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		if start && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		start = r == ' ' || r == '\n' || r == '\t'
		b.WriteRune(r)
	}
	return b.String()
}
