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
// the limit, else 0. What was live at the last garbage collection is
// what counts; when the heap's objects (live or not yet swept) are over
// the limit since then, it collects garbage to know, unless one it
// forced found the heap far enough under the limit.
func (b *budget) overMemory() uint64 {
	max := b.limits.Memory
	objects, live := heapStats()
	if live > max {
		return live
	}
	if objects <= max || objects <= b.gcAt.Load() {
		return 0
	}
	runtime.GC()
	if objects, live = heapStats(); live > max {
		return live
	}
	b.gcAt.Store(objects + max)
	return 0
}

// heapStats returns the bytes of the heap's objects, live or not yet
// swept, and of those live at the last garbage collection.
func heapStats() (objects, live uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	for i, p := range []*uint64{&objects, &live} {
		if s[i].Value.Kind() == metrics.KindUint64 {
			*p = s[i].Value.Uint64()
		}
	}
	return objects, live
}
