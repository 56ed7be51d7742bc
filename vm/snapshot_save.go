package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/qmp"
)

// saveSnapshot saves the state of the machine, stopped at its hello, as
// the boot snapshot of its shape, with what boot captured of its console
// up to there, then lets it run on. vmtest copies the guest's memory from
// the file it shares with QEMU (inst.ram), then QEMU streams the rest of
// the machine's state to a unix socket in the machine's directory; vmtest
// writes both to the cache with their checksum (see snapWriter). It
// returns when the machine runs again; on error the snapshot is not
// saved, and the machine is still resumed if it can be.
func (m *Machine) saveSnapshot(ctx context.Context, inst *instance, path string, boot *consoleCapture) (err error) {
	q := inst.qmp
	if err := q.Stop(ctx); err != nil {
		return fmt.Errorf("stopping the machine: %w", err)
	}
	defer func() {
		if cerr := q.Cont(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("resuming the machine: %w", cerr)
		}
	}()
	sock := filepath.Join(m.cfg.Dir, "snapshot.sock")
	os.Remove(sock)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	defer l.Close()
	w, err := newSnapWriter(path)
	if err != nil {
		return err
	}
	if err := w.writeRAM(inst.ram, int64(m.cfg.Memory)<<20); err != nil {
		w.abort()
		return err
	}
	if err := ignoreShared(ctx, q); err != nil {
		w.abort()
		return err
	}
	// The guest is stopped: no need to limit the bandwidth so that it
	// keeps running, nor to iterate until a downtime is short enough.
	if _, err := q.Execute(ctx, "migrate-set-parameters", map[string]any{"max-bandwidth": int64(1) << 40, "downtime-limit": 60000}); err != nil {
		w.abort()
		return err
	}
	if _, err := q.Execute(ctx, "migrate", map[string]string{"uri": "unix:" + sock}); err != nil {
		w.abort()
		return err
	}
	c, err := accept(ctx, l, inst.exited)
	if err != nil {
		w.abort()
		return fmt.Errorf("waiting for qemu to send the migration stream: %w", err)
	}
	// A QEMU that stops sending without closing does not hold the boot
	// past its deadline.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	_, err = w.ReadFrom(c)
	stop()
	c.Close()
	if err != nil {
		w.abort()
		return fmt.Errorf("reading the migration stream: %w", err)
	}
	if err := waitMigration(ctx, q); err != nil {
		w.abort()
		return err
	}
	// The console is quiet since the stop, and what it printed before has
	// been read by now: the migration took longer than a local socket.
	return w.commit(snapHeader{
		Created: time.Now().UTC(),
		QEMU:    q.Version().String(),
		Memory:  m.cfg.Memory,
		CPUs:    m.cfg.CPUs,
		NICs:    len(m.cfg.NICs),
		Disk:    m.cfg.Disk.Path != "",
	}, boot.take())
}

// consoleCapture keeps what a machine prints on its console from the
// start of its boot until take is called, up to max bytes (the rest is
// cut). Safe for concurrent use.
type consoleCapture struct {
	mu    sync.Mutex
	max   int
	b     []byte
	taken bool
}

var _ io.Writer = (*consoleCapture)(nil)

// Write never fails, so that a capture next to the console in an
// io.MultiWriter never stops the console.
func (c *consoleCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.taken {
		c.b = append(c.b, p[:min(len(p), c.max-len(c.b))]...)
	}
	return len(p), nil
}

// take returns what was captured and stops capturing.
func (c *consoleCapture) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taken = true
	return c.b
}

// checkGuestClock refuses to save a snapshot of a guest whose clock runs
// fast: one that said at hello it had been up longer than its QEMU has
// run. Under software emulation on a heavily loaded host, a guest kernel
// now and then calibrates its TSC badly and its clock then runs several
// times too fast; a snapshot would hand that clock to every machine
// revived from it, in this run and later ones. (A clock that is slightly
// fast, by less than the time QEMU takes to reach the kernel, goes
// unnoticed.)
func checkGuestClock(uptime, elapsed time.Duration) error {
	if uptime > elapsed+50*time.Millisecond {
		return fmt.Errorf("the guest's clock runs fast (up %s by its clock at hello, %s after its QEMU started)", uptime.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	}
	return nil
}

// waitMigration polls query-migrate until the outgoing migration has
// completed, or fails with QEMU's reason.
func waitMigration(ctx context.Context, q *qmp.Client) error {
	for {
		ret, err := q.Execute(ctx, "query-migrate", nil)
		if err != nil {
			return err
		}
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := json.Unmarshal(ret, &st); err != nil {
			return fmt.Errorf("query-migrate: want a status, got %s", ret)
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("qemu's migration %s: %s", st.Status, st.ErrorDesc)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitIncoming waits until a machine started with -incoming has loaded
// its snapshot, and starts it. QEMU exits when it cannot load the
// snapshot. The machine that saved it was stopped, and QEMU restores that
// run state too: a revived machine is paused until told to continue.
func waitIncoming(ctx context.Context, q *qmp.Client) error {
	for {
		st, err := q.Status(ctx)
		if err != nil {
			return err
		}
		switch st {
		case "running":
			return nil
		case "paused":
			return q.Cont(ctx)
		case "inmigrate":
		default:
			return fmt.Errorf("want the revived machine running, got qemu state %q", st)
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// snapRAMID names the memory backend of machines that save or revive
// from a boot snapshot; it names the guest's RAM block in the migration
// stream, so saver and reviver must agree on it.
const snapRAMID = "vmtest-ram"

// ramBackend is the QEMU options that make the guest's memory the file
// QEMU has as descriptor 3: shared with vmtest for a machine that saves
// the boot snapshot of its shape (vmtest copies it into the snapshot),
// private for one revived from it (the snapshot file, mapped
// copy-on-write).
func ramBackend(mib int, shared bool) []string {
	share := "off"
	if shared {
		share = "on"
	}
	return []string{
		"-object", fmt.Sprintf("memory-backend-file,id=%s,size=%dM,mem-path=/proc/self/fd/3,share=%s", snapRAMID, mib, share),
		"-machine", "memory-backend=" + snapRAMID,
	}
}

// ownsMemory reports whether qemu_opts set up the guest's memory
// themselves (a memory backend, -mem-path, -mem-prealloc, NUMA nodes),
// which the memory backend of a machine that saves or revives from a boot
// snapshot would clash with: such a machine boots cold.
func ownsMemory(opts []string) bool {
	for _, o := range opts {
		if o == "-numa" || strings.Contains(o, "memory-backend") || strings.Contains(o, "mem-path") || strings.Contains(o, "mem-prealloc") {
			return true
		}
	}
	return false
}

// guestRAM returns an anonymous memory file of mib MiB for the memory of
// a machine that is to save a boot snapshot.
func guestRAM(mib int) (*os.File, error) {
	fd, err := unix.MemfdCreate("vmtest-ram", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("making the guest's memory file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "vmtest-ram")
	if err := f.Truncate(int64(mib) << 20); err != nil {
		f.Close()
		return nil, fmt.Errorf("sizing the guest's memory file: %w", err)
	}
	return f, nil
}

// ignoreShared sets the migration capability x-ignore-shared: the
// guest's memory, a file QEMU maps (see ramBackend), is not in the stream.
// Both the saving and the reviving QEMU need it, so that they read the
// list of RAM blocks at the start of the stream alike.
func ignoreShared(ctx context.Context, q *qmp.Client) error {
	_, err := q.Execute(ctx, "migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}},
	})
	return err
}

// loadSnapshot has a QEMU started with -incoming defer and the snapshot
// as descriptor 3 load it.
func loadSnapshot(ctx context.Context, q *qmp.Client) error {
	if err := ignoreShared(ctx, q); err != nil {
		return err
	}
	_, err := q.Execute(ctx, "migrate-incoming", map[string]string{"uri": "fd:3"})
	return err
}
