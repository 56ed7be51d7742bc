//go:build linux

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// procGroup is the set of processes of one start of a job, so that the
// job can be stopped whole: in the guest a cgroup (which a daemon cannot
// leave by forking or setsid), elsewhere the process groups of the
// processes the job started.
type procGroup interface {
	// prepare sets up attr for a process about to join the group.
	prepare(attr *syscall.SysProcAttr)
	// started records a process of the group.
	started(pid int)
	// signal sends sig to every process of the group.
	signal(sig unix.Signal)
	// empty reports whether no process of the group is left.
	empty() bool
	// release frees the group; its processes must be gone.
	release()
}

// pgroups is a procGroup of process groups: each process the job starts
// leads its own; a daemon that calls setsid escapes it.
type pgroups struct {
	mu    sync.Mutex
	pgids []int
}

var _ procGroup = (*pgroups)(nil)

func (g *pgroups) prepare(attr *syscall.SysProcAttr) { attr.Setpgid = true }

func (g *pgroups) started(pid int) {
	g.mu.Lock()
	g.pgids = append(g.pgids, pid)
	g.mu.Unlock()
}

func (g *pgroups) signal(sig unix.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.pgids {
		unix.Kill(-p, sig)
	}
}

func (g *pgroups) empty() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.pgids {
		if unix.Kill(-p, 0) == nil {
			return false
		}
	}
	return true
}

func (g *pgroups) release() {}

// cgroup is a procGroup that is a cgroup v2 directory.
type cgroup struct {
	dir string
	fd  int
}

var _ procGroup = (*cgroup)(nil)

// newCgroup makes the cgroup dir (removing a leftover of the same name
// first).
func newCgroup(dir string) (*cgroup, error) {
	if _, err := os.Stat(dir); err == nil {
		old := &cgroup{dir: dir, fd: -1}
		old.kill()
		os.Remove(dir)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("making cgroup %s: %w", dir, unwrapPathError(err))
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	return &cgroup{dir: dir, fd: fd}, nil
}

func (g *cgroup) prepare(attr *syscall.SysProcAttr) {
	attr.UseCgroupFD = true
	attr.CgroupFD = g.fd
	attr.Setpgid = true // so that a terminal-style kill of the group works too
}

func (g *cgroup) started(int) {}

func (g *cgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

func (g *cgroup) signal(sig unix.Signal) {
	if sig == unix.SIGKILL {
		g.kill()
		return
	}
	for _, p := range g.pids() {
		unix.Kill(p, sig)
	}
}

// kill sends SIGKILL to every process of the cgroup at once (cgroup.kill,
// Linux 5.14), or one by one where that is missing.
func (g *cgroup) kill() {
	if os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	for _, p := range g.pids() {
		unix.Kill(p, unix.SIGKILL)
	}
}

func (g *cgroup) empty() bool {
	b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	if err != nil {
		return len(g.pids()) == 0
	}
	return bytes.Contains(b, []byte("populated 0"))
}

func (g *cgroup) release() {
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
	os.Remove(g.dir)
}

// cgroupRoot makes sure a cgroup v2 hierarchy is mounted at dir (mounting
// it if not) and reports whether jobs can use it.
func cgroupRoot(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting cgroup2 on %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return errors.New("no cgroup.procs after mounting cgroup2")
	}
	return nil
}
