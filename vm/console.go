package vm

import (
	"io"
	"strings"
	"sync/atomic"

	"github.com/vmtest/vmtest/vm/lines"
)

// consoleLines is how many console lines a machine remembers for error
// reports.
const consoleLines = 40

// console copies a machine's serial console to a sink, remembers its last
// lines and notices a kernel panic. Safe for concurrent use.
type console struct {
	*lines.History
	panic atomic.Pointer[string] // the kernel's panic line, once one was printed
}

func newConsole(sink io.Writer) *console {
	c := &console{}
	c.History = lines.New(sink, consoleLines, 64<<10, c.notice)
	return c
}

// notice records the first "Kernel panic - not syncing: ..." line.
func (c *console) notice(line string) {
	if c.panic.Load() != nil {
		return
	}
	if j := strings.Index(line, "Kernel panic - not syncing:"); j >= 0 {
		p := line[j:]
		c.panic.CompareAndSwap(nil, &p)
	}
}

// Panic returns the guest kernel's panic message ("Kernel panic - not
// syncing: ..."), or "" if it has not panicked.
func (c *console) Panic() string {
	if p := c.panic.Load(); p != nil {
		return *p
	}
	return ""
}
