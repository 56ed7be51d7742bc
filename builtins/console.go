package builtins

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// get_console_log() returns the machine's serial console of the whole
// run, as wait_for_console_text searches it. It boots nothing.
func (m *Machine) getConsoleLog(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	rm, err := m.runtime(thread)
	if err != nil {
		return nil, wrap(b, err)
	}
	return starlark.String(rm.ConsoleLog()), nil
}

// send_console(chars, timeout=300) types chars on the machine's serial
// console.
func (m *Machine) sendConsole(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var chars string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "chars", &chars, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.SendConsole(ctx, chars)
	})
}

// ttyNumber is a virtual terminal, as the NixOS driver names it: "1" or 1
// for tty1.
type ttyNumber int

func (t *ttyNumber) Unpack(v starlark.Value) error {
	var n int
	if s, ok := starlark.AsString(v); ok {
		i, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want a virtual terminal number such as 1 or \"1\", got %q", s)
		}
		n = i
	} else if err := starlark.AsInt(v, &n); err != nil {
		return fmt.Errorf("want a virtual terminal number such as 1 or \"1\", got %s", v.Type())
	}
	if n < 1 || n > 63 {
		return fmt.Errorf("tty%d: virtual terminals are 1..63", n)
	}
	*t = ttyNumber(n)
	return nil
}

// get_tty_text(tty, timeout=300) returns the text on virtual terminal
// ttyN, each row padded to its width.
func (m *Machine) getTTYText(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var tty ttyNumber
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "tty", &tty, "timeout?", &timeout); err != nil {
		return nil, err
	}
	var text string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		text, err = rm.TTYText(ctx, int(tty))
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(text), nil
}

// dump_tty_contents(tty, timeout=300) writes the text on ttyN to the
// run's log.
func (m *Machine) dumpTTYContents(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	text, err := m.getTTYText(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	rows := strings.ReplaceAll(runtime.TrimRows(string(text.(starlark.String))), "\n", "\n    ")
	m.s.net.Log().Machinef(m.d.name, "tty contents:\n    %s", rows)
	return starlark.None, nil
}

// wait_until_tty_matches(tty, regexp, timeout=300) waits until the text
// on ttyN matches regexp (Go RE2 syntax) and returns that text.
func (m *Machine) waitUntilTTYMatches(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var tty ttyNumber
	var pattern string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "tty", &tty, "regexp", &pattern, "timeout?", &timeout); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter regexp: %w", b.Name(), err)
	}
	var text string
	err = m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
		text, err = rm.WaitUntilTTYMatches(ctx, int(tty), re, timeout.duration())
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(text), nil
}
