package vswitch

import "sync"

// queue is the egress queue of one connection: one bounded FIFO per source
// port, served in turn. push never blocks; pop blocks until there is a frame
// or the queue is closed.
type queue struct {
	mu     sync.Mutex
	closed bool
	bySrc  map[*port]*fifo
	active []*fifo       // the non-empty FIFOs, in the order they are served
	wake   chan struct{} // holds a token when active may have become non-empty
}

// fifo holds the frames from one source port.
type fifo struct {
	frames [][]byte
	bytes  int
	active bool
}

func newQueue() *queue {
	return &queue{bySrc: map[*port]*fifo{}, wake: make(chan struct{}, 1)}
}

// push adds frame from src and reports whether it fitted: false when src's
// share is full (queueFrames or queueBytes) or the queue is closed.
func (q *queue) push(src *port, frame []byte) bool {
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
	if len(f.frames) >= queueFrames || f.bytes+len(frame) > queueBytes {
		return false
	}
	f.frames = append(f.frames, frame)
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

// pop appends up to max frames to batch, taking one frame from each
// non-empty source in turn, and returns it. It waits for a frame if there
// is none and returns batch unchanged once the queue is closed.
func (q *queue) pop(batch [][]byte, max int) [][]byte {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return batch
		}
		if len(q.active) > 0 {
			break
		}
		q.mu.Unlock()
		<-q.wake
	}
	defer q.mu.Unlock()
	for n := 0; n < max && len(q.active) > 0; n++ {
		f := q.active[0]
		q.active[0] = nil
		q.active = q.active[1:]
		fr := f.frames[0]
		f.frames[0] = nil
		f.frames = f.frames[1:]
		f.bytes -= len(fr)
		batch = append(batch, fr)
		if len(f.frames) > 0 {
			q.active = append(q.active, f) // to the back: the next source's turn
		} else {
			f.active = false
			f.frames = nil // give back the array; the next push starts small
		}
	}
	return batch
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
