package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RunDir is a private directory (mode 0700) for one vmtest process: the
// sockets of its machines (QMP, agent, console, network) and their scratch
// disks. No other user can connect to anything in it.
type RunDir struct {
	Path string
}

// NewRunDir creates a RunDir under $XDG_RUNTIME_DIR, or the system temp
// directory, and first removes run directories left by vmtest processes
// that no longer exist (killed with SIGKILL, say). Remove deletes it.
func NewRunDir() (*RunDir, error) {
	base := runDirBase()
	removeStale(base)
	dir, err := os.MkdirTemp(base, "vmtest-")
	if err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &RunDir{Path: dir}, nil
}

// runDirBase is where run directories are made.
func runDirBase() string {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if st, err := os.Stat(base); base == "" || err != nil || !st.IsDir() {
		base = os.TempDir()
	}
	return base
}

// RunDirOf returns the run directory the vmtest process pid made, or ""
// if there is none.
func RunDirOf(pid int) string {
	dirs, _ := filepath.Glob(filepath.Join(runDirBase(), "vmtest-*"))
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "pid")); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
			return d
		}
	}
	return ""
}

// Machine returns (creating it) the private directory of machine number i.
// Short names keep socket paths within the 108 bytes a unix socket allows.
func (r *RunDir) Machine(i int) (string, error) {
	d := filepath.Join(r.Path, "m"+strconv.Itoa(i))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// Remove deletes the directory and everything in it.
func (r *RunDir) Remove() error { return os.RemoveAll(r.Path) }

// removeStale deletes vmtest-* directories in base owned by this user whose
// recorded process is gone.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "vmtest-*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Getuid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			continue // not ours, or still being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}
