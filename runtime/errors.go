package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vmtest/vmtest/vm"
)

// ErrDeclareOnly is returned by every action of a Network made with
// Options.DeclareOnly: evaluation of the script stops at its first action.
var ErrDeclareOnly = errors.New("stopped at the first action: only the declarations are evaluated (vmtest deps, tests)")

// Error is a failed action on a machine. Error() is one line; Details
// gives what a user needs to see why: the command, its exit status, the
// tails of its output and of the machine's console.
type Error struct {
	Machine string
	Msg     string   // what failed, one line
	Command string   // the command, if the action ran one
	Status  string   // "exit status 1", "killed by SIGKILL", "timed out after 5s"
	Stdout  string   // tail
	Stderr  string   // tail
	Console []string // last console lines
	// Job, with JobState and JobOutput (its last lines), when the action
	// was about a job.
	Job       string
	JobState  string
	JobOutput []string
	// Screen is the text last read on the machine's screen, when the
	// action read it (ScreenRead), by OCR.
	Screen     string
	ScreenRead bool
	// TimedOut: the action's own timeout ran out (not the run's).
	TimedOut bool
	Err      error // the underlying error, if any
}

func (e *Error) Error() string { return e.Machine + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Lines of output and console shown in a report.
const (
	reportOutputLines  = 20
	reportConsoleLines = 20
	// A screen's text is shown whole: a 1024×768 console has 48 lines.
	reportScreenLines = 100
)

// Details returns the report's lines after the message, each indented by
// two spaces and ending in a newline, or "" if there is nothing to add.
func (e *Error) Details() string {
	var b strings.Builder
	if e.Command != "" {
		fmt.Fprintf(&b, "  machine: %s\n  command: %s\n", e.Machine, e.Command)
		if e.Status != "" {
			fmt.Fprintf(&b, "  status:  %s\n", e.Status)
		}
	}
	section := func(title, text string) {
		lines := lastLines(text, reportOutputLines)
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "  %s (last %d lines):\n", title, len(lines))
		for _, l := range lines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	if e.Job != "" {
		fmt.Fprintf(&b, "  machine: %s\n  job:     %s\n", e.Machine, e.Job)
		if e.JobState != "" {
			fmt.Fprintf(&b, "  state:   %s\n", e.JobState)
		}
		section("output of job "+e.Job, strings.Join(e.JobOutput, "\n"))
	}
	if e.ScreenRead {
		lines := lastLines(e.Screen, reportScreenLines)
		if len(lines) == 0 {
			fmt.Fprintf(&b, "  text on the screen of %s, as last read: none\n", e.Machine)
		} else {
			fmt.Fprintf(&b, "  text on the screen of %s, as last read (%s):\n", e.Machine, plural(len(lines), "line"))
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	section("stdout", e.Stdout)
	section("stderr", e.Stderr)
	section("console of "+e.Machine, strings.Join(e.Console, "\n"))
	return b.String()
}

// lastLines returns up to n last lines of s, without a final empty line.
func lastLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	return lines[max(0, len(lines)-n):]
}

// Details returns the details of every *Error in err's chain, for a
// failure report (see Error.Details).
func Details(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Details()
	}
	return ""
}

// reason returns err's message for a one-line report: a machine that
// stopped says why (its console is in the report's details anyway).
func reason(err error) string {
	var be *vm.BootError
	if errors.As(err, &be) {
		return be.Reason
	}
	return err.Error()
}
