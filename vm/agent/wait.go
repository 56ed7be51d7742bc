//go:build linux

package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// pollInterval is how often waits look again. The checks are a stat or a
// read of /proc inside the guest: cheap, and no process is started.
const pollInterval = 50 * time.Millisecond

// waitFor calls check until it returns true or ctx is done (the host
// cancelled the request: its deadline is the host's, see
// wire.Request.TimeoutMS). what names the condition in the error.
func waitFor(ctx context.Context, what string, check func() bool) wire.Result {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if check() {
			return wire.Result{}
		}
		select {
		case <-ctx.Done():
			return wire.Result{Error: fmt.Sprintf("cancelled while waiting for %s", what)}
		case <-t.C:
		}
	}
}

func (s *Server) waitFile(ctx context.Context, _ *request, req wire.Request) wire.Result {
	return waitFor(ctx, "file "+req.Path, func() bool {
		_, err := os.Lstat(req.Path)
		return err == nil
	})
}

func (s *Server) waitPort(ctx context.Context, _ *request, req wire.Request) wire.Result {
	if req.Port <= 0 || req.Port > 65535 {
		return wire.Result{Error: fmt.Sprintf("wait_port: port %d is out of range 1..65535", req.Port)}
	}
	what := fmt.Sprintf("TCP port %d to open", req.Port)
	if req.Closed {
		what = fmt.Sprintf("TCP port %d to close", req.Port)
	}
	return waitFor(ctx, what, func() bool {
		return listening(req.Port) != req.Closed
	})
}

// listening reports whether a TCP socket of any address family listens on
// port, from /proc/net/tcp and /proc/net/tcp6.
func listening(port int) bool {
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
				f.Close()
				return true
			}
		}
		f.Close()
	}
	return false
}

func (s *Server) setTime(_ context.Context, _ *request, req wire.Request) wire.Result {
	if err := setClock(req.TimeNS); err != nil {
		return wire.Result{Error: err.Error()}
	}
	return wire.Result{}
}

func setClock(ns int64) error {
	if ns == 0 {
		return nil
	}
	ts := unix.NsecToTimespec(ns)
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("set_time: %w", err)
	}
	return nil
}
