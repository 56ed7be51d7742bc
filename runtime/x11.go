package runtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// X11Job is the name of the job that runs the X server of a machine with
// x11 = True. Jobs that draw on the screen name it in after=.
const X11Job = "x11"

// X11Display is the DISPLAY of that server, set in the environment of the
// machine's commands and jobs.
const X11Display = ":0"

// x11Packages are what an x11 machine needs from the host: the X server
// (with its modesetting video driver), its evdev input driver, and
// x11-utils for xdpyinfo (the job's readiness) and xwininfo
// (WaitForWindow).
var x11Packages = []string{"xserver-xorg-core", "xserver-xorg-input-evdev", "x11-utils"}

// x11Start is the X server job's command. It writes a configuration
// naming the machine's input devices one by one, because no udev runs in
// the guest to announce them, then runs the server: on the VGA screen
// through the kernel's DRM driver (modesetting, without glamor: there is
// no GPU to accelerate with), on the first virtual terminal, with no TCP
// listener. Its log goes to /run/vmtest/Xorg.log and what it prints to
// /run/vmtest/Xorg.err, not to the console; only if it fails are its
// errors (the "(EE) ..." lines it printed) copied to the job's output. Without
// -auth the server lets every local client in, as a test machine wants.
const x11Start = `set -e
mkdir -p /run/vmtest
conf=/run/vmtest/xorg.conf
{
	printf 'Section "ServerLayout"\n\tIdentifier "vmtest"\n\tScreen "screen"\n'
	for d in /dev/input/event*; do
		[ -e "$d" ] && printf '\tInputDevice "%s" "SendCoreEvents"\n' "${d##*/}"
	done
	printf '\tOption "AutoAddDevices" "false"\nEndSection\n'
	printf 'Section "Device"\n\tIdentifier "card"\n\tDriver "modesetting"\n\tOption "AccelMethod" "none"\nEndSection\n'
	printf 'Section "Screen"\n\tIdentifier "screen"\n\tDevice "card"\nEndSection\n'
	for d in /dev/input/event*; do
		[ -e "$d" ] && printf 'Section "InputDevice"\n\tIdentifier "%s"\n\tDriver "evdev"\n\tOption "Device" "%s"\nEndSection\n' "${d##*/}" "$d"
	done
} > "$conf"
err=/run/vmtest/Xorg.err
Xorg ` + X11Display + ` -config "$conf" -logfile /run/vmtest/Xorg.log -nolisten tcp -noreset -novtswitch vt1 2>"$err" || {
	status=$?
	grep '^(EE) .' "$err" >&2
	exit $status
}`

// x11Job is the job of a machine's X server. It is ready when a client
// can talk to the server, not merely when its socket exists (the server
// makes the socket before it has set up the screen). It is not
// restarted: a server that fails fails wait_for_x at once, with its
// errors, rather than being retried until the wait's timeout.
func x11Job() wire.Job {
	return wire.Job{
		Name:        X11Job,
		Description: "the X server on the machine's screen",
		Start:       []wire.JobCommand{{Argv: []string{x11Start}, Shell: true}},
		Ready:       []wire.Ready{{Command: "xdpyinfo -display " + X11Display + " >/dev/null 2>&1"}},
		Autostart:   true,
	}
}

// addX11 gives a spec with X11 set its X server job and DISPLAY in the
// environment of its commands and of its other jobs (unless they set
// their own). Called by Define on a clone of the spec.
func (s *Spec) addX11() error {
	if !s.X11 {
		return nil
	}
	if slices.ContainsFunc(s.Jobs, func(j wire.Job) bool { return j.Name == X11Job }) {
		return fmt.Errorf("machine %s: a job called %q is the X server of x11 = True: name yours differently", s.Name, X11Job)
	}
	display := "DISPLAY=" + X11Display
	if !slices.ContainsFunc(s.Env, hasVar("DISPLAY")) {
		s.Env = append(slices.Clone(s.Env), display)
	}
	for i := range s.Jobs {
		if !slices.ContainsFunc(s.Jobs[i].Env, hasVar("DISPLAY")) {
			s.Jobs[i].Env = append(slices.Clone(s.Jobs[i].Env), display)
		}
	}
	s.Jobs = append(s.Jobs, x11Job())
	return nil
}

// hasVar returns whether a KEY=VALUE entry sets name.
func hasVar(name string) func(string) bool {
	return func(kv string) bool { return strings.HasPrefix(kv, name+"=") }
}

// x11Machine returns an error unless the machine runs an X server.
func (m *Machine) x11Machine() error {
	if m.spec.X11 {
		return nil
	}
	// About the script, not the guest: no console tail.
	return &Error{Machine: m.Name(), Msg: fmt.Sprintf("the machine has no X server: declare it with x11 = True in machine(%q, ...)", m.Name())}
}

// WaitForX waits until the machine's X server takes clients: until its
// job is ready (see x11Job), booting the machine first if it is not
// running. timeout 0 waits as long as ctx allows.
func (m *Machine) WaitForX(ctx context.Context, timeout time.Duration) error {
	if err := m.x11Machine(); err != nil {
		return err
	}
	_, err := m.WaitForJob(ctx, X11Job, timeout)
	return err
}

// windowPause is the pause between two looks at the windows in
// WaitForWindow.
const windowPause = time.Second

// WaitForWindow waits until a window of the machine's X server whose name
// re matches is on the screen (mapped and viewable, not merely created),
// and returns that name. It looks about once a second, with xwininfo in
// the guest; each look is bounded by what is left of timeout (0: no bound
// but ctx). After timeout, the error lists the window names it last saw.
func (m *Machine) WaitForWindow(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	if err := m.x11Machine(); err != nil {
		return "", err
	}
	if _, err := m.running(ctx); err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "waiting for a window /%s/", re)
	start := time.Now()
	var deadline time.Time
	if timeout > 0 {
		deadline = start.Add(timeout)
	}
	// look runs a command for WaitForWindow: its stdout, or ok false if it
	// failed or ran out of time.
	look := func(shell string) (string, bool, error) {
		c := Command{Shell: shell}
		if timeout > 0 {
			c.Timeout = max(time.Until(deadline), time.Millisecond)
		}
		out, err := m.execute(ctx, c, false)
		var e *Error
		if err != nil && !(errors.As(err, &e) && e.TimedOut) {
			return "", false, err
		}
		return out.Stdout, err == nil && out.Exit == 0, nil
	}
	var seen []Window
	var hidden []string // matching windows not on the screen
	for {
		tree, ok, err := look("xwininfo -root -tree")
		if err != nil {
			return "", err
		}
		if ok {
			seen, hidden = Windows(tree), nil
			for _, w := range seen {
				if !re.MatchString(w.Name) {
					continue
				}
				info, ok, err := look("xwininfo -id " + w.ID)
				if err != nil {
					return "", err
				}
				if ok && strings.Contains(info, "Map State: IsViewable") {
					m.net.log.Machinef(m.Name(), "window %q after %s", w.Name, round(time.Since(start)))
					return w.Name, nil
				}
				hidden = append(hidden, w.Name)
			}
		}
		if timeout > 0 && time.Until(deadline) <= 0 {
			e := m.errorf(nil, "no window matching /%s/ on the screen within %s (%s)", re, timeout, describeWindows(seen, hidden))
			e.TimedOut = true
			return "", e
		}
		d := windowPause
		if timeout > 0 {
			d = min(d, time.Until(deadline))
		}
		if Pause(ctx, d) != nil {
			return "", m.errorf(context.Cause(ctx), "waiting for a window /%s/: cancelled: %v", re, context.Cause(ctx))
		}
	}
}

// describeWindows says what WaitForWindow last saw: the names of the
// windows, and which of those matching were not on the screen.
func describeWindows(seen []Window, hidden []string) string {
	if len(seen) == 0 {
		return "no named windows"
	}
	var names []string
	for _, w := range seen {
		if !slices.Contains(names, w.Name) {
			names = append(names, w.Name)
		}
	}
	s := "windows last seen: " + quoteAll(names)
	if len(hidden) > 0 {
		s += "; not on the screen: " + quoteAll(hidden)
	}
	return s
}

// Window is a named window of an X server.
type Window struct {
	ID   string // as xwininfo prints it, "0x600022"
	Name string
}

// xwininfoName matches a window line of xwininfo -tree with a name:
//
//	0x600022 "xterm": ("xterm" "XTerm")  484x316+0+0  +0+0
var xwininfoName = regexp.MustCompile(`^\s*(0x[0-9a-f]+) "(.*)":`)

// Windows returns the named windows in the output of xwininfo -root
// -tree, in order. Unnamed windows ("(has no name)") are left out.
func Windows(tree string) []Window {
	var ws []Window
	for line := range strings.Lines(tree) {
		if m := xwininfoName.FindStringSubmatch(line); m != nil {
			ws = append(ws, Window{ID: m[1], Name: m[2]})
		}
	}
	return ws
}

// quoteAll quotes each of names and joins them with commas.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
