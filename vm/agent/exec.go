//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// DefaultPath is the PATH of programs the agent runs, unless the request
// sets its own. It ends with Debian's games directories, as a user's
// login PATH does, so that packaged games (openarena) run by name.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/games:/usr/games"

// drainGrace is how long an exec waits, after its program exited, for the
// program's output pipes to reach end of file. A background process that
// inherited them (`daemon &`) would otherwise hold the call open forever.
const drainGrace = time.Second

// exec runs a program (wire.OpExec) with its output streamed as stdout
// and stderr frames, until it exits or the host cancels the request (its
// deadline is the host's; see wire.Request.TimeoutMS): then its process
// group is killed.
func (s *Server) exec(ctx context.Context, r *request, req wire.Request) wire.Result {
	if req.TTY != nil {
		return s.execTTY(ctx, r, req)
	}
	c, err := resolveCommand(req)
	if err != nil {
		return wire.Result{Error: err.Error()}
	}
	p, err := openPipes(req.Stdin)
	if err != nil {
		return wire.Result{Error: err.Error()}
	}
	attr := &os.ProcAttr{
		Dir:   c.dir,
		Env:   c.env,
		Files: []*os.File{p.stdin, p.outW, p.errW},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Credential: c.cred},
	}
	pid, exited, err := s.reaper.Start(c.path, c.argv, attr)
	p.closeChildEnds()
	if err != nil {
		p.close()
		return wire.Result{Error: fmt.Sprintf("exec %s: %v", c.argv[0], unwrapPathError(err))}
	}
	return statusResult(s.runPiped(ctx, r, p, pid, exited))
}

// command is a program resolved for the user who runs it.
type command struct {
	path string
	argv []string
	env  []string
	dir  string
	cred *syscall.Credential // nil for root
}

// resolveCommand finds what req runs, as whom, where: its Shell string,
// its Argv, or (on a terminal, without either) the user's login shell.
func resolveCommand(req wire.Request) (command, error) {
	cred, env, home, err := identity(req.User)
	if err != nil {
		return command{}, err
	}
	c := command{argv: req.Argv, env: mergeEnv(env, req.Env), dir: req.Dir, cred: cred}
	switch {
	case req.Shell != "":
		c.argv = []string{"/bin/sh", "-c", req.Shell}
	case len(c.argv) == 0 && req.TTY != nil:
		// A login shell: argv[0] starts with "-".
		c.path = loginShell(req.User)
		c.argv = []string{"-" + filepath.Base(c.path)}
	case len(c.argv) == 0:
		return command{}, errors.New("exec: no command given")
	}
	if c.path == "" {
		if c.path, err = lookPath(c.argv[0], envValue(c.env, "PATH")); err != nil {
			return command{}, err
		}
	}
	if c.dir == "" {
		c.dir = "/"
		if st, err := os.Stat(home); err == nil && st.IsDir() {
			c.dir = home
		}
	}
	return c, nil
}

// pipes are a program's standard streams: stdin is /dev/null or the read
// end of a pipe the host's input is fed into (stdinW).
type pipes struct {
	stdin, stdinW *os.File
	outR, outW    *os.File
	errR, errW    *os.File
}

func openPipes(withStdin bool) (*pipes, error) {
	p := &pipes{}
	var err error
	if withStdin {
		p.stdin, p.stdinW, err = os.Pipe()
	} else {
		p.stdin, err = os.Open(os.DevNull)
	}
	if err != nil {
		return nil, fmt.Errorf("exec: stdin: %w", err)
	}
	if p.outR, p.outW, err = os.Pipe(); err != nil {
		p.close()
		return nil, fmt.Errorf("exec: stdout pipe: %w", err)
	}
	if p.errR, p.errW, err = os.Pipe(); err != nil {
		p.close()
		return nil, fmt.Errorf("exec: stderr pipe: %w", err)
	}
	return p, nil
}

// closeChildEnds closes the ends the program got.
func (p *pipes) closeChildEnds() {
	for _, f := range []*os.File{p.stdin, p.outW, p.errW} {
		if f != nil {
			f.Close()
		}
	}
}

// close closes every end still open.
func (p *pipes) close() {
	for _, f := range []*os.File{p.stdin, p.stdinW, p.outR, p.outW, p.errR, p.errW} {
		if f != nil {
			f.Close()
		}
	}
}

// runPiped streams the output of the started program pid and feeds it
// the host's input, on goroutines it waits for, until it exits or ctx is
// done (then its process group is killed), and returns how it ended.
func (s *Server) runPiped(ctx context.Context, r *request, p *pipes, pid int, exited <-chan syscall.WaitStatus) syscall.WaitStatus {
	var copies sync.WaitGroup
	stream := func(src *os.File, t wire.Type) {
		defer copies.Done()
		io.Copy(wire.StreamWriter{W: s.w, ID: r.id, Type: t}, src)
	}
	copies.Add(2)
	go stream(p.outR, wire.TypeStdout)
	go stream(p.errR, wire.TypeStderr)
	var feeder sync.WaitGroup
	if p.stdinW != nil {
		feeder.Add(1)
		go func() {
			defer feeder.Done()
			io.Copy(p.stdinW, r.stdin)
			p.stdinW.Close()
		}()
	}

	var ws syscall.WaitStatus
	select {
	case ws = <-exited:
	case <-ctx.Done():
		unix.Kill(-pid, unix.SIGKILL)
		ws = <-exited
	}
	if ctx.Err() != nil {
		unix.Kill(-pid, unix.SIGKILL) // the rest of its group
	}

	// End the stdin feeder: no more input is useful.
	r.stdin.close()
	if p.stdinW != nil {
		p.stdinW.Close()
	}
	feeder.Wait()

	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainGrace):
		p.outR.Close() // unblocks the copies
		p.errR.Close()
		<-drained
	}
	p.outR.Close()
	p.errR.Close()
	return ws
}

// statusResult is the Result of a program that ended with ws.
func statusResult(ws syscall.WaitStatus) wire.Result {
	var res wire.Result
	switch {
	case ws.Exited():
		res.Exit = ws.ExitStatus()
	case ws.Signaled():
		res.Exit = 128 + int(ws.Signal())
		res.Signal = unix.SignalName(ws.Signal())
	}
	return res
}

// identity returns the credential (nil for root), the base environment and
// the home directory of the user named by spec (a name or a numeric uid;
// empty means root).
func identity(spec string) (*syscall.Credential, []string, string, error) {
	if spec == "" || spec == "root" || spec == "0" {
		// Most commands run as root: spare them a read of /etc/passwd,
		// which on a fresh machine goes through 9p to the host.
		return nil, baseEnv("root", "/root"), "/root", nil
	}
	u, err := user.Lookup(spec)
	if err != nil {
		if _, nerr := strconv.Atoi(spec); nerr == nil {
			u, err = user.LookupId(spec)
		}
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("exec: no user %q in the guest's /etc/passwd", spec)
	}
	env := baseEnv(u.Username, u.HomeDir)
	if u.Uid == "0" {
		return nil, env, u.HomeDir, nil
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, env, u.HomeDir, nil
}

// baseEnv is the environment every program starts with.
func baseEnv(name, home string) []string {
	return []string{
		"PATH=" + DefaultPath,
		"HOME=" + home,
		"USER=" + name,
		"LOGNAME=" + name,
		"SHELL=/bin/sh",
		"LANG=C.UTF-8",
		"TERM=dumb",
	}
}

// mergeEnv returns base with each KEY=VALUE of extra replacing or adding KEY.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i] = kv
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath finds name in the colon-separated PATH, as a shell would.
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", fmt.Errorf("exec %s: %w", name, err)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: command not found in PATH %s", name, path)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return unwrapPathError(err)
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	if st.Mode()&0o111 == 0 {
		return errors.New("permission denied (not executable)")
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
