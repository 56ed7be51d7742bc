package runtime

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Log is where one run reports progress: the terminal (coloured machine
// prefixes, nested subtests) and log.txt (the same lines without colour,
// plus every command's output). Lines carry the time since the run
// started. Safe for concurrent use: boots, consoles and the script write
// to it at once.
type Log struct {
	mu      sync.Mutex
	term    io.Writer // nil: no terminal
	file    io.Writer // nil: no log file
	color   bool
	verbose bool
	start   time.Time
	depth   int
	palette map[string]string // machine name -> ANSI colour
	results []Result
}

// LogOptions say how a Log writes to the terminal.
type LogOptions struct {
	// Color turns on ANSI colours (see UseColor).
	Color bool
	// Verbose shows the machines' consoles and the commands' output on
	// the terminal; log.txt has the output always, the consoles are in
	// their own files.
	Verbose bool
}

// NewLog returns a Log writing to term and file, either of which may be
// nil. The run's clock starts now.
func NewLog(term, file io.Writer, o LogOptions) *Log {
	return &Log{term: term, file: file, color: o.Color, verbose: o.Verbose, start: time.Now(), palette: map[string]string{}}
}

// UseColor reports whether output to f should be coloured: f is a
// terminal and $NO_COLOR is unset or empty (https://no-color.org).
func UseColor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Machine colours, in order of SetMachines: never red or green, which
// mean failure and success.
var machineColors = []string{"36", "35", "33", "34", "96", "95", "93", "94"}

const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
)

// SetMachines assigns each machine its colour.
func (l *Log) SetMachines(names []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, n := range names {
		l.palette[n] = "\x1b[" + machineColors[i%len(machineColors)] + "m"
	}
}

// Elapsed returns the time since the run started.
func (l *Log) Elapsed() time.Duration { return time.Since(l.start) }

// line writes one line at the current depth: plain to the file, with
// colour codes (style wraps parts) to the terminal when term is true.
func (l *Log) line(term bool, plain, colored string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stamp := fmt.Sprintf("%6.1fs ", l.Elapsed().Seconds())
	indent := strings.Repeat("  ", l.depth)
	if l.file != nil {
		io.WriteString(l.file, stamp+indent+plain+"\n")
	}
	if term && l.term != nil {
		if l.color {
			io.WriteString(l.term, ansiDim+stamp+ansiReset+indent+colored+"\n")
		} else {
			io.WriteString(l.term, stamp+indent+plain+"\n")
		}
	}
}

// Printf logs a line of the run.
func (l *Log) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.line(true, msg, msg)
}

// Machinef logs a line about machine, prefixed with its coloured name.
func (l *Log) Machinef(machine, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.line(true, machine+": "+msg, l.paint(machine, machine)+": "+msg)
}

func (l *Log) paint(machine, s string) string {
	l.mu.Lock()
	c := l.palette[machine]
	l.mu.Unlock()
	if c == "" {
		return s
	}
	return c + s + ansiReset
}

// Output returns a writer for the output of a command on machine (stream
// "out" or "err"): each line goes to log.txt, and to the terminal with
// -v. Close it to flush an unfinished last line.
func (l *Log) Output(machine, stream string) io.WriteCloser {
	mark := ">"
	if stream == "err" {
		mark = "!"
	}
	return newLineWriter(func(s string) {
		l.line(l.verbose, machine+mark+" "+s, l.paint(machine, machine+mark)+" "+s)
	})
}

// Console returns the writer a machine's live console goes to on the
// terminal: lines prefixed "name | " with -v, nothing otherwise.
func (l *Log) Console(machine string) io.Writer {
	if !l.verbose || l.term == nil {
		return nil
	}
	return newLineWriter(func(s string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		p := machine + " | "
		if l.color {
			p = l.palette[machine] + machine + " |" + ansiReset + " "
		}
		io.WriteString(l.term, p+s+"\n")
	})
}

// A Result is the outcome of one subtest, or of a whole test file.
type Result struct {
	Name     string // subtest names joined with "/"
	Duration time.Duration
	Err      error // nil: passed
}

// Step is a subtest being run. Steps nest: Begin inside another step's
// function makes a child, named parent/child.
type Step struct {
	log   *Log
	name  string
	start time.Time
}

// Begin logs the start of a subtest and indents what follows until End.
// Subtests are run one at a time, by the script's goroutine.
func (l *Log) Begin(name string, parent *Step) *Step {
	full := name
	if parent != nil {
		full = parent.name + "/" + name
	}
	l.line(true, "subtest "+name, ansiBold+"subtest "+name+ansiReset)
	l.mu.Lock()
	l.depth++
	l.mu.Unlock()
	return &Step{log: l, name: full, start: time.Now()}
}

// Name returns the step's full name.
func (s *Step) Name() string { return s.name }

// End logs the result of the subtest and records it.
func (s *Step) End(err error) {
	l := s.log
	d := time.Since(s.start)
	l.mu.Lock()
	l.depth--
	l.results = append(l.results, Result{Name: s.name, Duration: d, Err: err})
	l.mu.Unlock()
	short := s.name[strings.LastIndex(s.name, "/")+1:]
	if err != nil {
		l.line(true, fmt.Sprintf("FAIL %s (%s)", short, round(d)), fmt.Sprintf("%sFAIL%s %s (%s)", ansiRed, ansiReset, short, round(d)))
		return
	}
	l.line(true, fmt.Sprintf("ok %s (%s)", short, round(d)), fmt.Sprintf("%sok%s %s (%s)", ansiGreen, ansiReset, short, round(d)))
}

// Results returns the subtests ended so far, in order of ending.
func (l *Log) Results() []Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Result(nil), l.results...)
}

// Raw writes text as is to the terminal and log.txt (a failure report).
func (l *Log) Raw(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		io.WriteString(l.file, text)
	}
	if l.term != nil {
		io.WriteString(l.term, text)
	}
}

// Summary writes the final line of a test: PASS or FAIL, its name, how
// long it took, and counts.
func (l *Log) Summary(test string, err error, machines int) {
	d := round(l.Elapsed())
	res := l.Results()
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
	}
	counts := fmt.Sprintf("%s, %s", plural(machines, "machine"), plural(len(res), "subtest"))
	if failed > 0 {
		counts += fmt.Sprintf(", %d failed", failed)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	verdict, color := "PASS", ansiGreen
	if err != nil {
		verdict, color = "FAIL", ansiRed
	}
	plain := fmt.Sprintf("%s %s (%s; %s)\n", verdict, test, d, counts)
	if l.file != nil {
		io.WriteString(l.file, plain)
	}
	if l.term != nil {
		if l.color {
			fmt.Fprintf(l.term, "%s%s%s%s %s (%s; %s)\n", ansiBold, color, verdict, ansiReset, test, d, counts)
		} else {
			io.WriteString(l.term, plain)
		}
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// round shortens d for humans: 1.234s -> "1.2s", 250ms -> "0.3s".
func round(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}
