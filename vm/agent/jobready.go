//go:build linux

package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// readyPoll is how often the readiness conditions that are polled (port,
// file, command) are checked.
const readyPoll = 100 * time.Millisecond

// readyCommandInterval is the pause between tries of a readiness command,
// and readyCommandTimeout bounds one try.
const (
	readyCommandInterval = 200 * time.Millisecond
	readyCommandTimeout  = 10 * time.Second
)

// describeReady says what a readiness condition waits for.
func describeReady(r wire.Ready) string {
	switch {
	case r.Port != 0:
		return fmt.Sprintf("TCP port %d to open", r.Port)
	case r.File != "":
		return "file " + r.File
	case r.Log != "":
		return fmt.Sprintf("a line of output matching /%s/", r.Log)
	case r.Command != "":
		return fmt.Sprintf("command %q to succeed", r.Command)
	case r.Exit:
		return "its process to exit with status 0"
	}
	return "nothing"
}

// checkReady validates the conditions of a job declaration.
func checkReady(rs []wire.Ready) error {
	for _, r := range rs {
		n := 0
		for _, set := range []bool{r.Port != 0, r.File != "", r.Log != "", r.Command != "", r.Exit} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("a readiness condition sets %d of port, file, log, command, exit; want exactly one", n)
		}
		if r.Port < 0 || r.Port > 65535 {
			return fmt.Errorf("ready port %d is out of range 1..65535", r.Port)
		}
		if r.Log != "" {
			if _, err := regexp.Compile(r.Log); err != nil {
				return fmt.Errorf("ready log pattern: %w", err)
			}
		}
	}
	return nil
}

// waitReady waits until every polled condition of rs holds (Log
// conditions are watched through logs, Exit ones by the caller), or ctx
// is done. It runs readiness commands through run.
func waitReady(ctx context.Context, rs []wire.Ready, logs []*logWatch, run func(ctx context.Context, shell string) bool) error {
	for _, w := range logs {
		select {
		case <-w.matched:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, r := range rs {
		var check func() bool
		interval := readyPoll
		switch {
		case r.Port != 0:
			check = func() bool { return listening(r.Port) }
		case r.File != "":
			check = func() bool { _, err := os.Lstat(r.File); return err == nil }
		case r.Command != "":
			interval = readyCommandInterval
			check = func() bool {
				cctx, cancel := context.WithTimeout(ctx, readyCommandTimeout)
				defer cancel()
				return run(cctx, r.Command)
			}
		default:
			continue
		}
		t := time.NewTicker(interval)
		for !check() {
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		t.Stop()
	}
	return nil
}

// notifySocket is the sd_notify socket of one start of a notify job: an
// abstract unix datagram socket whose name goes into $NOTIFY_SOCKET.
type notifySocket struct {
	name  string
	conn  *net.UnixConn
	ready chan struct{} // closed at READY=1
	done  chan struct{} // closed when the reader has returned
	// mainPID is what MAINPID= last said (0: nothing).
	mainPID atomic.Int64
}

var notifySeq atomic.Int64

// newNotifySocket opens a socket for job name.
func newNotifySocket(job string) (*notifySocket, error) {
	name := fmt.Sprintf("@vmtest/notify/%d/%d/%s", os.Getpid(), notifySeq.Add(1), job)
	if len(name) > 100 {
		name = name[:100]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	n := &notifySocket{name: name, conn: conn, ready: make(chan struct{}), done: make(chan struct{})}
	go n.read()
	return n, nil
}

func (n *notifySocket) read() {
	defer close(n.done)
	buf := make([]byte, 4096)
	readied := false
	for {
		k, err := n.conn.Read(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:k]), "\n") {
			switch {
			case line == "READY=1" && !readied:
				readied = true
				close(n.ready)
			case strings.HasPrefix(line, "MAINPID="):
				var pid int64
				fmt.Sscan(line[len("MAINPID="):], &pid)
				n.mainPID.Store(pid)
			}
		}
	}
}

// env is the variable that tells the job where to notify.
func (n *notifySocket) env() string { return "NOTIFY_SOCKET=" + n.name }

func (n *notifySocket) close() {
	n.conn.Close()
	<-n.done
}
