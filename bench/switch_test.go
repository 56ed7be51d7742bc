package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/runtime/vswitch"
)

// switchClient is a NIC as QEMU's -netdev stream is one: a unix stream of
// frames, each prefixed by its length in 4 bytes, big endian.
type switchClient struct {
	c   net.Conn
	mac [6]byte
}

func dialSwitch(b *testing.B, sw *vswitch.Switch, name string, id byte) *switchClient {
	b.Helper()
	sock, err := sw.Attach(1, name)
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	return &switchClient{c: c, mac: [6]byte{2, 0, 0, 0, 0, id}}
}

// frames returns n frames from src to dst of size bytes, framed for the
// stream, in one buffer.
func frames(dst, src [6]byte, size, n int) []byte {
	f := make([]byte, size)
	copy(f, dst[:])
	copy(f[6:], src[:])
	f[12], f[13] = 0x88, 0xb5
	var buf []byte
	for range n {
		buf = binary.BigEndian.AppendUint32(buf, uint32(size))
		buf = append(buf, f...)
	}
	return buf
}

// BenchmarkSwitchFrames measures the switch alone: frames per second from
// one unix-socket client to another through a learned port, for minimum
// (60-byte) and full (1514-byte) Ethernet frames. The sender keeps at most
// window frames in flight, fewer than the switch queues for a sender, so
// nothing is dropped and the figure is what the switch forwards.
func BenchmarkSwitchFrames(b *testing.B) {
	const (
		batch  = 64
		window = 3 // batches in flight: 192 frames, within the queue's 256
	)
	for _, size := range []int{60, 1514} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			dir, err := os.MkdirTemp("", "vsw-bench-")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(dir)
			sw := vswitch.New(dir)
			defer sw.Close()
			tx, rx := dialSwitch(b, sw, "tx", 1), dialSwitch(b, sw, "rx", 2)
			defer tx.c.Close()
			defer rx.c.Close()
			// Teach the switch where rx is, and wait until it is through.
			rx.c.Write(frames([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, rx.mac, 60, 1))
			hello := make([]byte, 64)
			if _, err := io.ReadFull(tx.c, hello); err != nil {
				b.Fatal(err)
			}

			buf := frames(rx.mac, tx.mac, size, batch)
			n := max(b.N, 1_000_000) / batch * batch
			credits := make(chan struct{}, window)
			for range window {
				credits <- struct{}{}
			}
			var got int
			var wg sync.WaitGroup
			wg.Add(1)
			start := time.Now()
			go func() {
				defer wg.Done()
				r := bufio.NewReaderSize(rx.c, 1<<20)
				var hdr [4]byte
				f := make([]byte, 2048)
				rx.c.SetReadDeadline(time.Now().Add(5 * time.Minute))
				for got < n {
					if _, err := io.ReadFull(r, hdr[:]); err != nil {
						return
					}
					if _, err := io.ReadFull(r, f[:binary.BigEndian.Uint32(hdr[:])]); err != nil {
						return
					}
					if got++; got%batch == 0 {
						credits <- struct{}{}
					}
				}
			}()
			for sent := 0; sent < n; sent += batch {
				<-credits
				if _, err := tx.c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			elapsed := time.Since(start)
			var drops uint64
			for _, st := range sw.Stats() {
				drops += st.Drops
			}
			if got < n || drops > 0 {
				b.Fatalf("%d of %d frames arrived, %d dropped", got, n, drops)
			}
			fps := float64(got) / elapsed.Seconds()
			b.ReportMetric(fps, "frames/s")
			b.ReportMetric(fps*float64(size)*8/1e9, "Gbit/s")
			fmt.Printf("switch: %d-byte frames, %.0f frames/s (%.2f Gbit/s) from one unix-socket client to another (%d frames, none dropped)\n",
				size, fps, fps*float64(size)*8/1e9, n)
		})
	}
}
