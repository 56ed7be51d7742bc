package vswitch

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// queue is the egress queue of one connection: one bounded FIFO per source
// port, served in turn. A FIFO is also the link from its source to this
// port: a frame may carry a time before which it must not leave (latency,
// rate), and the writer leaves it queued until then. push never blocks;
// pop blocks until a frame is due or the queue is closed.
type queue struct {
	mu     sync.Mutex
	closed bool
	bySrc  map[*port]*fifo
	active []*fifo       // the non-empty FIFOs, in the order they are served
	wake   chan struct{} // holds a token when active may have become non-empty
}

// fifo holds the frames from one source port.
type fifo struct {
	frames []queued
	bytes  int
	active bool
	// For a shaped link: when the last frame queued is due, and when the
	// link is free to send the next one (rate), in clock nanoseconds.
	lastDue, free int64
}

// queued is a frame and the clock time at which it may leave (0: at once).
type queued struct {
	data []byte
	due  int64
}

// Bounds of a FIFO of a shaped link, which must hold the frames in flight
// for its latency: more than queueFrames/queueBytes, still bounded.
const (
	delayFrames = 1024
	delayBytes  = 2 << 20
)

// clockBase is the origin of clock.
var clockBase = time.Now()

// clock returns monotonic nanoseconds since clockBase.
func clock() int64 { return int64(time.Since(clockBase)) }

func newQueue() *queue {
	return &queue{bySrc: map[*port]*fifo{}, wake: make(chan struct{}, 1)}
}

// push adds frame from src, shaped by link l (nil: a perfect link), and
// reports whether it fitted: false when src's share is full, the link's
// rate backlog is, or the queue is closed.
func (q *queue) push(src *port, frame []byte, l *Link) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	f := q.bySrc[src]
	if f == nil {
		f = &fifo{}
		q.bySrc[src] = f
	}
	maxFrames, maxBytes := queueFrames, queueBytes
	var due int64
	if l != nil && (l.Latency > 0 || l.Jitter > 0 || l.Rate > 0) {
		maxFrames, maxBytes = delayFrames, delayBytes
		now := clock()
		start := now
		if l.Rate > 0 {
			start = max(now, f.free)
			if time.Duration(start-now) > RateBacklog {
				return false
			}
		}
		if len(f.frames) >= maxFrames || f.bytes+len(frame) > maxBytes {
			return false
		}
		sent := start
		if l.Rate > 0 {
			sent = start + int64(float64(len(frame)*8)*1e9/float64(l.Rate))
			f.free = sent
		}
		delay := l.Latency
		if l.Jitter > 0 {
			delay += time.Duration((2*rand.Float64() - 1) * float64(l.Jitter))
		}
		due = max(sent+int64(max(delay, 0)), f.lastDue, 1)
		f.lastDue = due
	} else if len(f.frames) >= maxFrames || f.bytes+len(frame) > maxBytes {
		return false
	} else if f.lastDue > 0 {
		// The link was shaped a moment ago: frames still delayed on it
		// leave first.
		due = f.lastDue
	}
	f.frames = append(f.frames, queued{frame, due})
	f.bytes += len(frame)
	if !f.active {
		f.active = true
		q.active = append(q.active, f)
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// pop appends up to max due frames to batch, taking one frame from each
// source with a due frame in turn, and returns it. It waits for a frame to
// be due if none is, and returns batch unchanged once the queue is closed.
func (q *queue) pop(batch [][]byte, max int) [][]byte {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return batch
		}
		next := q.take(&batch, max)
		q.mu.Unlock()
		if len(batch) > 0 {
			return batch
		}
		if next == math.MaxInt64 {
			<-q.wake
			continue
		}
		wait := time.Duration(next - clock())
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// take moves due frames to batch, round robin over the sources, and
// returns the clock time at which the next frame still queued is due
// (math.MaxInt64 if none is). The caller holds q.mu.
func (q *queue) take(batch *[][]byte, max int) int64 {
	now := clock()
	next := int64(math.MaxInt64)
	i, skipped := 0, 0
	for len(*batch) < max && len(q.active) > 0 && skipped < len(q.active) {
		if i >= len(q.active) {
			i = 0
		}
		f := q.active[i]
		head := f.frames[0]
		if head.due > now {
			next = min(next, head.due)
			skipped++
			i++
			continue
		}
		skipped = 0
		f.frames[0] = queued{}
		f.frames = f.frames[1:]
		f.bytes -= len(head.data)
		*batch = append(*batch, head.data)
		if len(f.frames) > 0 {
			i++
			continue
		}
		f.active = false
		f.frames = nil // give back the array; the next push starts small
		if f.lastDue <= now {
			f.lastDue = 0
		}
		copy(q.active[i:], q.active[i+1:])
		q.active[len(q.active)-1] = nil
		q.active = q.active[:len(q.active)-1]
	}
	if len(q.active) > 0 && len(*batch) > 0 {
		// The source after the last one served goes first next time.
		rotate(q.active, i%len(q.active))
	}
	if len(*batch) > 0 {
		return next
	}
	for _, f := range q.active {
		next = min(next, f.frames[0].due)
	}
	return next
}

// rotate turns s left by k: s[k] becomes s[0].
func rotate(s []*fifo, k int) {
	reverse := func(s []*fifo) {
		for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
			s[i], s[j] = s[j], s[i]
		}
	}
	reverse(s[:k])
	reverse(s[k:])
	reverse(s)
}

// close discards the queued frames and wakes a waiting pop. Later pushes
// fail.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.bySrc, q.active = nil, nil
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
