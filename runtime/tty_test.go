package runtime

import (
	"strings"
	"testing"
)

func TestVCSAText(t *testing.T) {
	// 2 rows of 3 columns: "hi\x01" and "é  " (0xe9 is not ASCII).
	b := []byte{2, 3, 0, 0, 'h', 7, 'i', 7, 1, 7, 0xe9, 7, ' ', 7, ' ', 7}
	got, err := vcsaText(b)
	if err != nil || got != "hi \n?  " {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := vcsaText(b[:10]); err == nil || !strings.Contains(err.Error(), "for 2×3 cells") {
		t.Errorf("a short read: %v", err)
	}
	if got := TrimRows("a  \nb \n   \n"); got != "a\nb" {
		t.Errorf("TrimRows: %q", got)
	}
}

// FuzzVCSAText: what a guest gives for /dev/vcsaN is decoded without a
// panic, into at most rows×cols characters and a newline per row.
func FuzzVCSAText(f *testing.F) {
	f.Add([]byte{2, 3, 0, 0, 'h', 7, 'i', 7, 1, 7, 0xe9, 7, ' ', 7, ' ', 7})
	f.Add([]byte{255, 255, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		text, err := vcsaText(b)
		if err != nil {
			return
		}
		rows, cols := int(b[0]), int(b[1])
		if len(text) > rows*(cols+1) {
			t.Fatalf("%d bytes of text from %d×%d cells", len(text), rows, cols)
		}
	})
}
