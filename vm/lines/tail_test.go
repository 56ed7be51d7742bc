package lines

import "testing"

func TestTail(t *testing.T) {
	tl := NewTail(10)
	tl.Write([]byte("line one\nline two\nend\n"))
	if got := tl.String(); got != "end\n" {
		t.Errorf("tail = %q", got)
	}
	short := NewTail(100)
	short.Write([]byte("all\nof it"))
	if got := short.String(); got != "all\nof it" {
		t.Errorf("tail of what fits = %q", got)
	}
}
