package wire

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Writer writes whole frames to one stream. It is safe for concurrent use:
// frames from different goroutines never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Frame writes one frame. The payload must fit in MaxPayload.
func (w *Writer) Frame(id uint32, t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("wire: %s frame of %d bytes exceeds the limit of %d", t, len(payload), MaxPayload)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = AppendFrame(w.buf[:0], id, t, payload)
	_, err := w.w.Write(w.buf)
	if cap(w.buf) > 256<<10 {
		w.buf = nil // do not pin a large buffer after one big frame
	}
	return err
}

// JSON writes one frame whose payload is v encoded as JSON.
func (w *Writer) JSON(id uint32, t Type, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wire: encoding %s frame: %w", t, err)
	}
	return w.Frame(id, t, b)
}

// chunk is the largest payload Data puts in one frame: small enough that one
// stream cannot hold the port for long while others wait.
const chunk = 64 << 10

// Data writes p as one or more frames of type t (Stdout, Stderr, Stdin).
// An empty p writes nothing; use Frame with a nil payload for end of input.
func (w *Writer) Data(id uint32, t Type, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), chunk)
		if err := w.Frame(id, t, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// StreamWriter adapts one request's output stream to an io.Writer.
type StreamWriter struct {
	W    *Writer
	ID   uint32
	Type Type
}

var _ io.Writer = StreamWriter{}

func (s StreamWriter) Write(p []byte) (int, error) {
	if err := s.W.Data(s.ID, s.Type, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
