package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/keys"
)

// Screendump writes what the machine's screen shows to path (any host
// path; the directory must exist) as a PNG image. Unlike the commands, it
// does not boot the machine: a screen dump of a machine that is not
// running (not started yet, shut down, crashed) is an error, as is one of
// a machine without a display. It blocks until QEMU has written the image
// or ctx is done.
func (m *Machine) Screendump(ctx context.Context, path string) error {
	v, err := m.screen()
	if err != nil {
		return err
	}
	if err := v.Screendump(ctx, path); err != nil {
		if ctx.Err() != nil {
			return m.errorf(context.Cause(ctx), "screen dump: %v", context.Cause(ctx))
		}
		return m.errorf(err, "screen dump to %s: %v", path, vmCause(err))
	}
	return nil
}

// screen returns the running guest of a machine with a display, for the
// screen and keyboard actions. The
// display is checked first, so that a declaration-only run (vmtest deps,
// the script tests) reports a machine without one.
func (m *Machine) screen() (*vm.Machine, error) {
	if !m.spec.HasDisplay() {
		// About the script, not the guest: no console tail.
		return nil, &Error{Machine: m.Name(), Msg: fmt.Sprintf("the machine has no display: declare it with display = True (or x11 = True) in machine(%q, ...)", m.Name())}
	}
	if err := m.net.act(); err != nil {
		return nil, err
	}
	// A boot in progress holds mu: the screen is there once it is done.
	m.mu.Lock()
	v := m.vm
	m.mu.Unlock()
	if v == nil || !v.Running() {
		return nil, m.errorf(nil, "the machine is not running: start it first (start() or start_all()); a screen action does not boot it")
	}
	return v, nil
}

// VNCSocket returns the unix socket on which the machine's screen can be
// watched with a VNC viewer while it runs (see vm.Machine.VNCSocket); ""
// if it has no display or has not booted yet.
func (m *Machine) VNCSocket() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm == nil {
		return ""
	}
	return m.vm.VNCSocket()
}

// vmCause is what a vm.Machine error that names the machine, and wraps
// why, says without the machine's name, which the runtime's own error
// names.
func vmCause(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// ScreenshotFile returns the file name a screenshot called name gets in
// the output directory: name itself if it ends in ".png", name + ".png" if
// it has no extension (as the NixOS test driver does). A name with a
// path separator, another extension, or a leading dot is an error.
func ScreenshotFile(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("want a screenshot name, got an empty string")
	case strings.ContainsRune(name, '/'):
		return "", fmt.Errorf("screenshot name %q contains a /: want a plain file name, written in the output directory", name)
	case strings.HasPrefix(name, "."):
		return "", fmt.Errorf("screenshot name %q starts with a dot: want a visible file name", name)
	}
	switch ext := filepath.Ext(name); ext {
	case ".png":
		return name, nil
	case "":
		return name + ".png", nil
	default:
		return "", fmt.Errorf("screenshot name %q ends in %s: screenshots are PNG images; want a name ending in .png or without an extension", name, ext)
	}
}

// Screenshot writes what the machine's screen shows to the output
// directory as ScreenshotFile(name) and returns that file's path. It is
// Screendump with the output directory's naming rules.
func (m *Machine) Screenshot(ctx context.Context, name string) (string, error) {
	file, err := ScreenshotFile(name)
	if err != nil {
		return "", err
	}
	out := m.net.opts.OutDir
	if out == "" && !m.net.opts.DeclareOnly {
		return "", errors.New("this run keeps no output directory to write the screenshot into")
	}
	path := filepath.Join(out, file)
	if err := m.Screendump(ctx, path); err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "screenshot %s", path)
	return path, nil
}

// SendKeys presses each key combo of names in turn (see keys.Parse:
// "ctrl-alt-delete", "alt-f2", "ret"), waiting delay after each. Like
// Screendump it does not boot the machine, and needs a display. It
// returns once the last keys are released, or when ctx is done.
func (m *Machine) SendKeys(ctx context.Context, names []string, delay time.Duration) error {
	combos := make([]keys.Combo, len(names))
	for i, n := range names {
		c, err := keys.Parse(n)
		if err != nil {
			return err
		}
		combos[i] = c
	}
	v, err := m.screen()
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "sending keys %s", strings.Join(names, " "))
	return m.press(ctx, v, combos, delay)
}

// SendChars types text on the machine's keyboard, a US layout (see
// keys.ForText: "\n" is Return), waiting delay after each character. A
// character that cannot be typed is an error before any key is pressed.
// Otherwise as SendKeys.
func (m *Machine) SendChars(ctx context.Context, text string, delay time.Duration) error {
	combos, err := keys.ForText(text)
	if err != nil {
		return err
	}
	v, err := m.screen()
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "typing %q", text)
	return m.press(ctx, v, combos, delay)
}

// press sends combos to v's keyboard one after the other.
func (m *Machine) press(ctx context.Context, v *vm.Machine, combos []keys.Combo, delay time.Duration) error {
	for i, c := range combos {
		if err := v.SendKey(ctx, c); err != nil {
			if ctx.Err() != nil {
				return m.errorf(context.Cause(ctx), "sending keys: cancelled at key %d of %d (%s): %v", i+1, len(combos), c, context.Cause(ctx))
			}
			return m.errorf(err, "sending key %s: %v", c, vmCause(err))
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return m.errorf(context.Cause(ctx), "sending keys: cancelled after key %d of %d: %v", i+1, len(combos), context.Cause(ctx))
			}
		}
	}
	return nil
}
