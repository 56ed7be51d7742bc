package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// guestStream is the host's end of a connection whose guest sends data
// once the host has sent its first frame (the call's request), then
// ends. Writes are discarded.
type guestStream struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started bool
	closed  bool
	r       *bytes.Reader
}

func newGuestStream(data []byte) *guestStream {
	g := &guestStream{r: bytes.NewReader(data)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *guestStream) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.started && !g.closed {
		g.cond.Wait()
	}
	if g.closed {
		return 0, io.ErrClosedPipe
	}
	return g.r.Read(p)
}

func (g *guestStream) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.started = true
	g.cond.Broadcast()
	return len(p), nil
}

func (g *guestStream) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.cond.Broadcast()
	return nil
}

// FuzzClient feeds what a guest sends to a Client with a call in flight
// (the guest controls every byte): the call ends, with a result or an
// error, and nothing panics.
func FuzzClient(f *testing.F) {
	f.Add(AppendFrame(nil, 1, TypeResult, []byte(`{"exit":3}`)))
	f.Add(AppendFrame(AppendFrame(nil, 1, TypeStdout, []byte("out")), 1, TypeResult, []byte(`{}`)))
	f.Add(AppendFrame(AppendFrame(nil, 0, TypeEvent, []byte(`{"kind":"job","job":"x"}`)), 1, TypeStderr, []byte("err")))
	f.Add(AppendFrame(nil, 1, TypeResult, []byte(`{"exit":`)))
	f.Add(AppendFrame(nil, 0, TypeEvent, []byte(`not json`)))
	f.Add(AppendFrame(nil, 7, TypeRequest, nil))
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		events := 0
		c := NewClient(newGuestStream(data), func(Event) { events++ })
		var out, errb bytes.Buffer
		_, err := c.Call(context.Background(), Request{Op: OpPing}, nil, &out, &errb)
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("call: %v, want a result or ErrClosed", err)
		}
		c.Close()
		if c.Err() == nil {
			t.Fatal("closed, but Err is nil")
		}
	})
}
