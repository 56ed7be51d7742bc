// Package hostcmd runs the host's helper programs (mke2fs, qemu-img,
// debugfs, tesseract, lcov, ...) so that a deadline or a Ctrl-C reaches
// them: every one runs under a context, in a process group of its own that
// is killed as a whole when the context ends, and dies with vmtest.
package hostcmd

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// WaitDelay bounds how long Wait waits, once the program was killed, for
// its output pipes to close (a grandchild may hold them).
const WaitDelay = time.Second

// Command is exec.CommandContext(ctx, name, args...) made to stop: when
// ctx is done, the program's whole process group gets SIGKILL, and Wait
// returns at most WaitDelay later; the program also gets SIGKILL if the
// thread that started it exits (vmtest dies). Its error then wraps ctx's
// error.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = WaitDelay
	return cmd
}
