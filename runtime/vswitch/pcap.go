package vswitch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// pcap file format (libpcap, microsecond timestamps, Ethernet frames): a
// 24-byte file header, then per frame a 16-byte record header and the
// frame. Fields are written little endian; readers tell the byte order by
// the magic number.
const (
	pcapMagic    = 0xa1b2c3d4
	pcapSnapLen  = 262144
	linkEthernet = 1
)

// captureFlush bounds how long a captured frame may wait in the buffer
// before it reaches the file, so that a capture read during the run is at
// most this far behind.
const captureFlush = 100 * time.Millisecond

// pcapWriter writes frames to one pcap file. Frames come from every port
// of a vlan at once, so it is safe for concurrent use. It buffers, and
// flushes at most captureFlush after a frame was written, on a timer whose
// callback it waits for in close.
type pcapWriter struct {
	path string

	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	err    error // the first write error; the capture stops there
	closed bool
	timer  *time.Timer // pending flush, or nil
	wg     sync.WaitGroup
}

// newPcapWriter creates path (replacing a file there) and writes the file
// header.
func newPcapWriter(path string) (*pcapWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &pcapWriter{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10)}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// thiszone and sigfigs are 0
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkEthernet)
	w.w.Write(h[:])
	if err := w.w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// write records one frame, stamped with the time now.
func (w *pcapWriter) write(frame []byte) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return
	}
	n := min(len(frame), pcapSnapLen)
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(now.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(now.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(n))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(frame)))
	w.w.Write(h[:])
	if _, err := w.w.Write(frame[:n]); err != nil {
		w.err = err
		return
	}
	if w.timer == nil {
		w.wg.Add(1)
		w.timer = time.AfterFunc(captureFlush, w.flushLater)
	}
}

// flushLater is the timer's callback.
func (w *pcapWriter) flushLater() {
	defer w.wg.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.closed || w.err != nil {
		return
	}
	if err := w.w.Flush(); err != nil {
		w.err = err
	}
}

// close flushes and closes the file, after a pending flush has run or been
// cancelled. It returns the first error of the capture.
func (w *pcapWriter) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.timer != nil && w.timer.Stop() {
		w.timer = nil
		w.wg.Done() // the callback will not run
	}
	err := w.err
	if err == nil {
		err = w.w.Flush()
	}
	w.mu.Unlock()
	w.wg.Wait()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("capture %s: %w", w.path, err)
	}
	return nil
}

// Capture records every frame that vlan carries to a pcap file at path
// (replaced if it exists), readable by tcpdump -r, tshark and Wireshark,
// until the switch is closed. A frame is recorded once, when it enters the
// switch from a machine that is not blocked, before partitions and links
// act on it, with the time it arrived. The vlan need not have ports yet. A
// vlan already being captured is left as it is (its file keeps going).
// The file lags the network by at most a tenth of a second.
func (s *Switch) Capture(vlanID int, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("capturing: the switch is closed")
	}
	v := s.vlanLocked(vlanID)
	if v.capture.Load() != nil {
		return nil
	}
	w, err := newPcapWriter(path)
	if err != nil {
		return fmt.Errorf("capturing vlan %d: %w", vlanID, err)
	}
	v.capture.Store(w)
	return nil
}

// stopCaptures ends every capture once no reader runs any more (after the
// ports are closed) and returns their first error.
func (s *Switch) stopCaptures() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, v := range s.vlans {
		if w := v.capture.Swap(nil); w != nil {
			errs = append(errs, w.close())
		}
	}
	return errors.Join(errs...)
}
