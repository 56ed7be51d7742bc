package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/guest"
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
// screen and keyboard actions. The display is checked first, so that a
// declaration-only run (vmtest deps, the script tests) reports a machine
// without one. It waits for a boot in progress, which holds mu.
func (m *Machine) screen() (*vm.Machine, error) {
	if !m.spec.HasDisplay() {
		// About the script, not the guest: no console tail.
		return nil, &Error{Machine: m.Name(), Msg: fmt.Sprintf("the machine has no display: declare it with display = True (or x11 = True) in machine(%q, ...)", m.Name())}
	}
	if err := m.net.act(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	v := m.vm
	m.mu.Unlock()
	if v == nil || !v.Running() {
		return nil, m.errorf(guest.ErrNotRunning, "the machine is not running: start it first (start() or start_all()); a screen action does not boot it")
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
	case strings.IndexByte(name, 0) >= 0 || len(name) > maxName-len(".png"):
		return "", fmt.Errorf("screenshot name %s: want a file name of at most %d bytes without NUL", quotePath(name), maxName-len(".png"))
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
