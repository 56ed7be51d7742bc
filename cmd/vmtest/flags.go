package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmtest/vmtest/lang"
)

// Every verb parses its flags with a flag.FlagSet from newFlags and
// parseFlags: Go's flag package does the parsing, quietly, and its errors
// are said again in vmtest's words ("vmtest run: --timeout 5: want a
// duration with a unit, such as --timeout 5m"), followed by the verb's
// usage alone. -h prints the verb's usage and its flags.
//
// A flag whose value has a form of its own is one of the Values below:
// each says, when a value is refused, what it wanted, and gives an
// example of the flag as it should be typed.

// newFlags returns the flag set of a verb: silent, for parseFlags.
func newFlags(verb string) *flag.FlagSet {
	fs := flag.NewFlagSet("vmtest "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs, flags before, between or after the
// positional arguments (after "--" every argument is positional; with
// interleave false, the first positional argument ends the flags), and
// returns the positional arguments. When it returns ok false, it has said
// why on standard error and the verb returns code: exitUsage for a bad
// flag, 0 for -h.
func parseFlags(fs *flag.FlagSet, args []string, interleave bool) (pos []string, code int, ok bool) {
	var err error
	if interleave {
		pos, err = parseInterleaved(fs, args)
	} else if err = fs.Parse(args); err == nil {
		pos = fs.Args()
	}
	if err == nil {
		return pos, 0, true
	}
	verb := strings.TrimPrefix(fs.Name(), "vmtest ")
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stderr, verbUsage(verb))
		fmt.Fprintln(os.Stderr, "flags:")
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
		return nil, 0, false
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n%s", fs.Name(), flagError(fs, err), verbUsage(verb))
	return nil, exitUsage, false
}

// The errors of package flag, which it gives as strings.
var (
	flagUndefined = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagNoValue   = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	flagBadValue  = regexp.MustCompile(`(?s)^invalid value "(.*)" for flag -(\S+): (.*)$`)
	flagBadBool   = regexp.MustCompile(`(?s)^invalid boolean value "(.*)" for -(\S+): .*$`)
	flagBadSyntax = regexp.MustCompile(`^bad flag syntax: (.*)$`)
)

// flagError says what is wrong with a flag, from the error of fs.Parse.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := flagUndefined.FindStringSubmatch(msg); m != nil {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		s := ""
		if near := lang.Suggest(m[1], names); near != "" {
			s = fmt.Sprintf(" (did you mean %s?)", flagName(near))
		}
		return fmt.Sprintf("unknown flag %s%s", flagName(m[1]), s)
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s needs a value, such as %s", flagName(m[1]), flagExample(fs, m[1]))
	}
	if m := flagBadValue.FindStringSubmatch(msg); m != nil {
		if _, ok := fs.Lookup(m[2]).Value.(choiceFlag); ok {
			return fmt.Sprintf("%s %s: %s", flagName(m[2]), quoteArg(m[1]), m[3]) // the choices are the examples
		}
		return fmt.Sprintf("%s %s: %s, such as %s", flagName(m[2]), quoteArg(m[1]), m[3], flagExample(fs, m[2]))
	}
	if m := flagBadBool.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s=%s: want true or false (the flag alone is true)", flagName(m[2]), quoteArg(m[1]))
	}
	if m := flagBadSyntax.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s is not a flag: a flag is -x or --name", quoteArg(m[1]))
	}
	return msg
}

// flagName is a flag as the usage writes it: -j, --timeout.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// quoteArg shows a command-line argument: as it is, unless quoting
// makes it readable (empty, spaces, control characters).
func quoteArg(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) {
		return strconv.Quote(s)
	}
	return s
}

// flagExample is the flag with an example value: "--timeout 5m".
func flagExample(fs *flag.FlagSet, name string) string {
	f := fs.Lookup(name)
	if f == nil {
		return flagName(name)
	}
	if e, ok := f.Value.(interface{ example() string }); ok {
		return flagName(name) + " " + e.example()
	}
	v, _ := flag.UnquoteUsage(f)
	if v == "" {
		v = "VALUE"
	}
	return flagName(name) + " " + v
}

// durationFlag is a flag.Value for a duration >= 0: "5m", "90s", "1h30m".
type durationFlag struct{ p *time.Duration }

func (d durationFlag) String() string {
	if d.p == nil {
		return "0s"
	}
	return d.p.String()
}
func (d durationFlag) example() string { return "5m" }
func (d durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	switch {
	case err != nil && isNumber(s):
		return errors.New("want a duration with a unit (s, m or h)")
	case err != nil:
		return errors.New("want a duration")
	case v < 0:
		return errors.New("want a duration of 0 (no limit) or more")
	}
	*d.p = v
	return nil
}

// isNumber reports whether s is a decimal number.
func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// intFlag is a flag.Value for a whole number from min to max.
type intFlag struct {
	p        *int
	min, max int
	eg       string
}

func (i intFlag) String() string {
	if i.p == nil {
		return "0"
	}
	return strconv.Itoa(*i.p)
}
func (i intFlag) example() string { return i.eg }
func (i intFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < i.min || n > i.max {
		if i.max == maxInt {
			return fmt.Errorf("want a whole number from %d up", i.min)
		}
		return fmt.Errorf("want a whole number from %d to %d", i.min, i.max)
	}
	*i.p = n
	return nil
}

const maxInt = int(^uint(0) >> 1)

// stepsFlag is --max-steps: a count of computation steps, 0 for none.
type stepsFlag struct{ p *uint64 }

func (s stepsFlag) String() string {
	if s.p == nil {
		return "0"
	}
	return strconv.FormatUint(*s.p, 10)
}
func (s stepsFlag) example() string { return "5000000000" }
func (s stepsFlag) Set(v string) error {
	n, err := strconv.ParseUint(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return errors.New("want a whole number of steps (0: no limit)")
	}
	*s.p = n
	return nil
}

// sizeFlag is a flag.Value for a size in bytes: "2GiB", "512MiB", 0.
type sizeFlag struct{ p *uint64 }

// String writes the size exactly, in the largest unit that divides it.
func (s sizeFlag) String() string {
	if s.p == nil || *s.p == 0 {
		return "0"
	}
	n := *s.p
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if n%1024 != 0 || u == "GiB" {
			return strconv.FormatUint(n, 10) + u
		}
		n /= 1024
	}
	return ""
}
func (s sizeFlag) example() string { return "4GiB" }
func (s sizeFlag) Set(v string) error {
	n, err := lang.ParseSize(v)
	if err != nil {
		return errors.New("want a size with a unit (KiB, MiB, GiB; 0: no limit)")
	}
	*s.p = n
	return nil
}

// choiceFlag is a flag.Value for one of a few words.
type choiceFlag struct {
	p       *string
	choices []string
}

func (c choiceFlag) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}
func (c choiceFlag) example() string { return c.choices[0] }
func (c choiceFlag) Set(v string) error {
	for _, ch := range c.choices {
		if v == ch {
			*c.p = v
			return nil
		}
	}
	msg := "want " + orList(c.choices)
	if near := lang.Suggest(v, c.choices); near != "" {
		msg += " (did you mean " + near + "?)"
	}
	return errors.New(msg)
}

// orList writes "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// limitFlags are the flags that bound a test file's computation (see
// lang.Limits), on every verb that runs one.
type limitFlags struct{ lang.Limits }

func (l *limitFlags) register(fs *flag.FlagSet) {
	l.Limits = lang.DefaultLimits
	fs.Var(stepsFlag{&l.Steps}, "max-steps", "stop the script after `N` steps of computation (an endless loop); 0: no limit")
	fs.Var(sizeFlag{&l.Memory}, "max-memory", "stop the script when vmtest's heap holds more than `SIZE` (such as 4GiB); 0: no limit")
}

// args returns the flags that give the limits, if they are not the
// defaults, for a command line that runs the file again.
func (l *limitFlags) args() []string {
	var a []string
	if l.Steps != lang.DefaultLimits.Steps {
		a = append(a, "--max-steps", strconv.FormatUint(l.Steps, 10))
	}
	if l.Memory != lang.DefaultLimits.Memory {
		a = append(a, "--max-memory", sizeFlag{&l.Memory}.String())
	}
	return a
}
