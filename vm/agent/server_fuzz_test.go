//go:build linux

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

// FuzzServe feeds a Server what a host sends, with every operation's
// handler replaced by one that reads its standard input and waits to be
// cancelled (so nothing runs on this host): frames, requests, stdin,
// resizes and cancels of any shape end in results or a clean stop, and
// nothing panics or hangs.
func FuzzServe(f *testing.F) {
	req := func(id uint32, r wire.Request) []byte {
		b, _ := json.Marshal(r)
		return wire.AppendFrame(nil, id, wire.TypeRequest, b)
	}
	f.Add(req(1, wire.Request{Op: wire.OpPing}))
	f.Add(append(req(1, wire.Request{Op: wire.OpExec, Argv: []string{"true"}, Stdin: true}),
		wire.AppendFrame(wire.AppendFrame(nil, 1, wire.TypeStdin, []byte("input")), 1, wire.TypeStdin, nil)...))
	f.Add(append(req(2, wire.Request{Op: wire.OpExec, Shell: "x", TTY: &wire.WinSize{Rows: 24, Cols: 80}}),
		wire.AppendFrame(wire.AppendFrame(nil, 2, wire.TypeResize, []byte(`{"rows":50,"cols":100}`)), 2, wire.TypeCancel, nil)...))
	f.Add(req(3, wire.Request{Op: "nosuch"}))
	f.Add(wire.AppendFrame(nil, 4, wire.TypeRequest, []byte("{")))
	f.Add(wire.AppendFrame(nil, 5, wire.TypeResult, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(bytes.NewReader(data), io.Discard, NewReaper())
		for op := range s.handler {
			s.handler[op] = func(ctx context.Context, r *request, req wire.Request) wire.Result {
				read := make(chan struct{})
				go func() { io.Copy(io.Discard, r.stdin); close(read) }()
				<-ctx.Done()
				r.stdin.close()
				<-read
				return wire.Result{}
			}
		}
		s.Serve(context.Background()) // returns at the end of the stream, after every request
	})
}
