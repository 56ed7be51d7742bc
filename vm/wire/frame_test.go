package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var b []byte
	b = AppendFrame(b, 7, TypeStdout, []byte("hello"))
	b = AppendFrame(b, 0, TypeEvent, nil)
	r := bytes.NewReader(b)
	f, err := ReadFrame(r)
	if err != nil || f.ID != 7 || f.Type != TypeStdout || string(f.Payload) != "hello" {
		t.Fatalf("first frame: %+v %v", f, err)
	}
	f, err = ReadFrame(r)
	if err != nil || f.ID != 0 || f.Type != TypeEvent || len(f.Payload) != 0 {
		t.Fatalf("second frame: %+v %v", f, err)
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	b := AppendFrame(nil, 1, TypeStdout, []byte("hello"))
	if _, err := ReadFrame(bytes.NewReader(b[:4])); err == nil || !strings.Contains(err.Error(), "inside a frame header") {
		t.Fatalf("truncated header: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(b[:11])); err == nil || !strings.Contains(err.Error(), "inside a stdout frame") {
		t.Fatalf("truncated payload: %v", err)
	}
	huge := binary.BigEndian.AppendUint32(nil, MaxPayload+1)
	huge = append(huge, 0, 0, 0, 1, 'o')
	if _, err := ReadFrame(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "corrupt stream") {
		t.Fatalf("oversized frame: %v", err)
	}
}

func TestDataSplitsLargeWrites(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	data := bytes.Repeat([]byte("x"), 3*chunk+5)
	if err := w.Data(3, TypeStdout, data); err != nil {
		t.Fatal(err)
	}
	var got []byte
	frames := 0
	for {
		f, err := ReadFrame(&buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
		got = append(got, f.Payload...)
	}
	if frames != 4 || !bytes.Equal(got, data) {
		t.Fatalf("%d frames, %d bytes; want 4 frames, %d bytes", frames, len(got), len(data))
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, 1, TypeRequest, []byte(`{"op":"ping"}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			if _, err := ReadFrame(r); err != nil {
				return
			}
		}
	})
}
