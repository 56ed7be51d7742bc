package lines

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	c := New(nil, 100, 1<<20, nil)
	c.Write([]byte("booting\r\nlogin: "))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if line, err := c.Wait(ctx, regexp.MustCompile("^boot")); err != nil || line != "booting" {
		t.Fatalf("history: %q, %v", line, err)
	}
	if line, err := c.Wait(ctx, regexp.MustCompile("login: $")); err != nil || line != "login: " {
		t.Fatalf("prompt: %q, %v", line, err)
	}
	done := make(chan string)
	go func() {
		line, _ := c.Wait(ctx, regexp.MustCompile("ready"))
		done <- line
	}()
	c.Write([]byte("root\nservice rea"))
	c.Write([]byte("dy\n"))
	if line := <-done; line != "login: root" && line != "service ready" {
		t.Fatalf("later line: %q", line)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c.Wait(short, regexp.MustCompile("never")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no match: %v", err)
	}
	if tail := c.Tail(2); !slices.Equal(tail, []string{"login: root", "service ready"}) {
		t.Errorf("tail %q", tail)
	}
}

func TestBoundsTailAndHook(t *testing.T) {
	var seen []string
	h := New(nil, 3, 1<<20, func(line string) { seen = append(seen, line) })
	h.Write([]byte("one\ntwo\nthree\nfour\nfive\r\nhalf"))
	if got := h.Tail(10); !slices.Equal(got, []string{"three", "four", "five", "half"}) {
		t.Errorf("Tail(10) = %q, want the last 3 lines and the unfinished one", got)
	}
	if got := h.Tail(2); !slices.Equal(got, []string{"five", "half"}) {
		t.Errorf("Tail(2) = %q", got)
	}
	if !slices.Equal(seen, []string{"one", "two", "three", "four", "five"}) {
		t.Errorf("hook saw %q, want every complete line", seen)
	}
	small := New(nil, 100, 8, nil)
	small.Write([]byte("12345\n67890\n"))
	if got := small.Tail(10); !slices.Equal(got, []string{"67890"}) {
		t.Errorf("byte bound: Tail = %q", got)
	}
}
