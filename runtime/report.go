package runtime

import (
	"strings"

	"github.com/vmtest/vmtest/lang"
)

// Report renders a failed run's error for a user: the position and
// message (lang.FormatError), then what Error.Details adds (machine,
// command, status, output and console tails), then the script's
// traceback. It ends with a newline.
func Report(err error) string {
	text := lang.FormatError(err)
	details := Details(err)
	head, trace, found := strings.Cut(text, "\nTraceback")
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("\n")
	b.WriteString(details)
	if found {
		b.WriteString("Traceback")
		b.WriteString(trace)
		b.WriteString("\n")
	}
	return b.String()
}
