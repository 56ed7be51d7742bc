// Package hostcmd runs the host's helper programs (mke2fs, qemu-img,
// debugfs, tesseract, lcov, ...) so that a deadline or a Ctrl-C reaches
// them: every one runs under a context, in a process group of its own that
// is killed as a whole when the context ends.
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
// returns at most WaitDelay later. (No parent-death signal: it fires when
// the forking thread exits, which the Go runtime may do while the program
// runs; QEMU, which must die with vmtest, is started on a thread of its
// own, see package vm.)
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = WaitDelay
	return cmd
}
