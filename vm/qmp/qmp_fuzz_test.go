package qmp

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
)

// FuzzClient feeds a Client what a QEMU sends (the guest's devices shape
// its events and replies): the handshake, a command and the events end
// in results or errors, and nothing panics or hangs.
func FuzzClient(f *testing.F) {
	greeting := `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}` + "\n"
	ok := `{"return": {}, "id": 0}` + "\n"
	f.Add([]byte(greeting + ok + `{"return": {"status": "running"}, "id": 1}` + "\n"))
	f.Add([]byte(greeting + ok + `{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}` + "\n" + `{"error": {"class": "GenericError", "desc": "no"}, "id": 1}`))
	f.Add([]byte(greeting + `{"error": {"class": "CommandNotFound", "desc": "x"}}`))
	f.Add([]byte(greeting + ok + `{"return": 1, "id": "1"}{"return": [], "id": 1}`))
	f.Add([]byte(`{"event": "RESET"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		qemu, host := net.Pipe()
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Add(2)
		go func() { defer wg.Done(); io.Copy(io.Discard, qemu) }() // what the client sends
		go func() {
			defer wg.Done()
			qemu.Write(data)
			qemu.Close()
		}()
		c, err := New(context.Background(), host)
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range c.Events() {
			}
		}()
		c.Execute(context.Background(), "query-status", nil)
		c.Close()
	})
}
