// Package wire is the protocol between vmtest on the host and its agent
// (PID 1) in the guest, carried over one virtio-serial port.
//
// The byte stream is a sequence of frames:
//
//	length  uint32, big endian: the number of payload bytes
//	id      uint32, big endian: the request the frame belongs to (0: none)
//	type    uint8: one of the Type constants
//	payload length bytes
//
// The host opens a request with a Request frame (a JSON Request) under an id
// it chose and has not used before on this connection. While the request
// runs, the host may send Stdin frames (an empty one is end of input) and one
// Cancel frame; the guest sends Stdout and Stderr frames. The guest ends the
// request with exactly one Result frame (a JSON Result). Frames of different
// requests interleave freely, so several requests are in flight at once.
// The guest sends Event frames (a JSON Event) under id 0 at any time.
package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Type says what a frame carries.
type Type byte

// Frame types. Host-to-guest: Request, Stdin, Cancel (and Resize, in tty.go).
// Guest-to-host: Stdout, Stderr, Result, Event.
const (
	TypeRequest Type = 'q'
	TypeStdin   Type = 'i'
	TypeCancel  Type = 'c'
	TypeStdout  Type = 'o'
	TypeStderr  Type = 'e'
	TypeResult  Type = 'r'
	TypeEvent   Type = 'v'
)

func (t Type) String() string {
	switch t {
	case TypeRequest:
		return "request"
	case TypeStdin:
		return "stdin"
	case TypeCancel:
		return "cancel"
	case TypeStdout:
		return "stdout"
	case TypeStderr:
		return "stderr"
	case TypeResult:
		return "result"
	case TypeEvent:
		return "event"
	case TypeResize:
		return "resize"
	}
	return fmt.Sprintf("type(%q)", byte(t))
}

// MaxPayload bounds one frame's payload. Writers split longer data (see
// Conn.WriteData); readers reject longer frames as a corrupt stream.
const MaxPayload = 1 << 20

// headerSize is the length of a frame header in bytes.
const headerSize = 9

// Frame is one decoded frame.
type Frame struct {
	ID      uint32
	Type    Type
	Payload []byte
}

// ReadFrame reads one frame from r. It returns io.EOF only when r ends
// cleanly between frames.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Frame{}, fmt.Errorf("wire: stream ended inside a frame header")
		}
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("wire: frame payload of %d bytes exceeds the limit of %d: corrupt stream", n, MaxPayload)
	}
	f := Frame{ID: binary.BigEndian.Uint32(h[4:8]), Type: Type(h[8])}
	if n > 0 {
		f.Payload = make([]byte, n)
		if _, err := io.ReadFull(r, f.Payload); err != nil {
			return Frame{}, fmt.Errorf("wire: stream ended inside a %s frame: %w", f.Type, err)
		}
	}
	return f, nil
}

// AppendFrame appends the encoding of one frame to b.
func AppendFrame(b []byte, id uint32, t Type, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, byte(t))
	return append(b, payload...)
}
