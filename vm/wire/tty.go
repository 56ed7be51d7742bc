package wire

import (
	"sync"
)

// TypeResize is a host-to-guest frame sent while an exec on a terminal
// (Request.TTY) runs: the terminal's new size, a JSON WinSize. The agent
// resizes the guest's terminal, which signals SIGWINCH to its foreground
// processes.
const TypeResize Type = 'w'

// WinSize is the size of a terminal in character cells.
type WinSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// Resizer is a stdin that is a terminal whose size may change. Given one
// as stdin, Call forwards every size it reports as a Resize frame until
// the call ends.
type Resizer interface {
	Resizes() <-chan WinSize
}

// forwardResizes sends a Resize frame of request id for each size from
// sizes, on a goroutine, until the returned stop is called; stop waits
// for the goroutine.
func (c *Client) forwardResizes(id uint32, sizes <-chan WinSize) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case ws, ok := <-sizes:
				if !ok {
					return
				}
				if c.w.JSON(id, TypeResize, ws) != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
