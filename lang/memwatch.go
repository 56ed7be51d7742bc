package lang

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"time"
)

// A watchdog measures the heap while a budget's threads run, and stops
// them when it is over the budget's memory limit. Its goroutine is owned
// by the budget, which stops it when its last thread is done.
type watchdog struct {
	quit chan struct{}
	done chan struct{}
}

// watchEvery is how often the watchdog measures the heap.
const watchEvery = 20 * time.Millisecond

func startWatchdog(b *budget) *watchdog {
	w := &watchdog{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-w.quit:
				return
			case <-t.C:
			}
			if heap := b.overMemory(); heap > 0 {
				b.stop(fmt.Sprintf("the script went over its memory limit of %s (vmtest's heap holds %s); raise it with --max-memory SIZE (0: no limit)",
					FormatSize(b.limits.Memory), FormatSize(heap)))
			}
		}
	}()
	return w
}

// stop stops the watchdog and waits for its goroutine; nil is a watchdog
// that does not run.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	close(w.quit)
	<-w.done
}

// overMemory returns the size of the heap's live objects if it is over
// the limit, else 0.
func (b *budget) overMemory() uint64 {
	max := b.limits.Memory
	if h := heapObjects(); h <= max || h <= b.gcAt.Load() {
		return 0
	}
	runtime.GC()
	h := heapObjects()
	if h <= max {
		b.gcAt.Store(h + max)
		return 0
	}
	return h
}

// heapObjects returns the bytes of the heap's objects, live or not yet
// swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
