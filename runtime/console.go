package runtime

import (
	"io"

	"github.com/vmtest/vmtest/vm/lines"
)

// History bounds: a machine's console history keeps at most this many
// lines and bytes, dropping the oldest first.
const (
	historyLines = 200_000
	historyBytes = 16 << 20
)

// newConsole returns the sink of one machine's serial console for the
// whole run, across reboots: it copies everything to out (the console log
// file, and the terminal when live; set later with SetOut when nil) and
// keeps the history that wait_for_console_text searches and reports quote.
func newConsole(out io.Writer) *lines.History {
	return lines.New(out, historyLines, historyBytes, nil)
}
