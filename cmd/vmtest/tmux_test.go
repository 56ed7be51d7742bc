package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// terminal is a real terminal for a vmtest under test: a tmux session on
// a private tmux server. Keys go in with send-keys; what the terminal
// shows (its history included) comes out with capture-pane.
type terminal struct {
	t    *testing.T
	sock string
}

// exitMark is printed by the terminal's shell when the command ends.
const exitMark = "EXIT="

// newTerminal runs command (a shell command line) in dir in a new 160x50
// terminal, with env added to the environment. The session stays after
// the command ends, having shown "EXIT=<status>".
func newTerminal(t *testing.T, dir string, env []string, command string) *terminal {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	x := &terminal{t: t, sock: sock}
	cmd := exec.Command("tmux", "-S", sock, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "160", "-y", "50",
		"cd "+shellWord(dir)+" && "+command+"; echo "+exitMark+"$?; sleep 3600")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the terminal shows:\n%s", x.screen())
		}
		exec.Command("tmux", "-S", sock, "kill-server").Run()
	})
	return x
}

func (x *terminal) tmux(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.sock}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeText types text as it is (no key names).
func (x *terminal) typeText(text string) { x.t.Helper(); x.tmux("send-keys", "-t", "t", "-l", text) }

// keys presses keys by name: Enter, Tab, C-c, C-d, C-].
func (x *terminal) keys(keys ...string) {
	x.t.Helper()
	x.tmux(append([]string{"send-keys", "-t", "t"}, keys...)...)
}

// line types text and presses Enter.
func (x *terminal) line(text string) { x.t.Helper(); x.typeText(text); x.keys("Enter") }

// screen is everything the terminal shows and showed, lines joined.
func (x *terminal) screen() string {
	out, _ := exec.Command("tmux", "-S", x.sock, "capture-pane", "-p", "-J", "-S", "-5000", "-t", "t").Output()
	return string(out)
}

// waitFor waits until the terminal has shown text count times (at least)
// and returns the screen; it fails the test after timeout.
func (x *terminal) waitFor(text string, count int, timeout time.Duration) string {
	x.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := x.screen()
		if strings.Count(s, text) >= count {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("the terminal did not show %q (%d times) within %s", text, count, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
