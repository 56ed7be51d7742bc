package coverage

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Summary is the outcome of a report, written as summary.json. Paths are
// relative to the coverage directory.
type Summary struct {
	Test     string           `json:"test"`
	Machines []MachineSummary `json:"machines"`
	// Combined is all machines together; never below any machine's,
	// since every machine's figures are of the same code.
	Combined Totals `json:"combined"`
	// Files is the combined coverage of each source file.
	Files     []FileSummary `json:"files"`
	Tracefile string        `json:"tracefile"` // combined.info
	HTML      string        `json:"html"`      // html/index.html
	// GoHTML is go tool cover's rendering of the Go data, if any.
	GoHTML string `json:"go_html,omitempty"`
}

// Totals are line and function coverage.
type Totals struct {
	Lines     Counts `json:"lines"`
	Functions Counts `json:"functions"`
}

// MachineSummary is one machine's share.
type MachineSummary struct {
	Name string `json:"name"`
	Totals
	// Data lists the kinds of data the machine wrote: "gcov", "go".
	// Empty when it ran no instrumented program.
	Data []string `json:"data"`
	// Partial is set when the machine's data may be incomplete (its
	// power was cut, so what it had not synced to disk is lost); Reason
	// says why.
	Partial   bool   `json:"partial"`
	Reason    string `json:"reason,omitempty"`
	Tracefile string `json:"tracefile"` // <name>.info
}

// FileSummary is one source file's combined coverage.
type FileSummary struct {
	Path string `json:"path"`
	Totals
}

// write writes s as indented JSON to path.
func (s *Summary) write(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Text returns the table printed at the end of a run: a row per machine
// and the combined row, with line and function percentages and counts.
func (s *Summary) Text() string {
	width := len("combined")
	for _, m := range s.Machines {
		width = max(width, len(m.Name))
	}
	var b strings.Builder
	row := func(name string, t Totals, note string) {
		line := fmt.Sprintf("  %-*s  %-22s %-22s %s", width, name, cell(t.Lines), cell(t.Functions), note)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	fmt.Fprintf(&b, "  %-*s  %-22s %s\n", width, "coverage", "lines", "functions")
	for _, m := range s.Machines {
		note := ""
		switch {
		case m.Partial:
			note = "partial: " + m.Reason
		case len(m.Data) == 0:
			note = "(ran no instrumented program)"
		}
		row(m.Name, m.Totals, note)
	}
	row("combined", s.Combined, "")
	return b.String()
}

func cell(c Counts) string {
	return fmt.Sprintf("%5.1f%% (%d/%d)", c.Percent, c.Covered, c.Total)
}
