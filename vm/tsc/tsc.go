// Package tsc measures the host's time stamp counter frequency, which a
// guest under QEMU's TCG sees as its own: QEMU gives the guest the
// host's counter. A guest kernel that calibrates it itself against the
// emulated PIT, on a loaded host, was seen to get 366 MHz for a 2.6 GHz
// counter, and then its clock and timers ran seven times too fast
// (waits with a timeout ended early, the soft lockup watchdog fired). The
// measured value goes on the guest's command line as tsc_early_khz=, and
// the guest's own refinement (within 1% of it) finishes the job.
package tsc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm/cache"
)

// window is how long the counter is measured against the monotonic
// clock; samples bracket each counter read between two clock reads, and
// the narrowest of several is kept, so that preemption costs accuracy
// only when every sample is preempted.
const (
	window  = 50 * time.Millisecond
	samples = 20
)

// KHz returns the frequency of the host's time stamp counter in kHz,
// from a cache file in dir valid for this boot of the host, or measured
// (about 50 ms) and cached. It fails on hosts without a constant-rate
// counter, or on other architectures.
func KHz(dir string) (int, error) {
	if !supported {
		return 0, errors.New("no time stamp counter on this architecture")
	}
	if !constantRate() {
		return 0, errors.New("the host's time stamp counter does not have a constant rate")
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	boot = bytes.TrimSpace(boot)
	file := filepath.Join(dir, "tsc-khz")
	if b, err := os.ReadFile(file); err == nil {
		if id, khz, ok := strings.Cut(strings.TrimSpace(string(b)), " "); ok && id == string(boot) && len(boot) > 0 {
			if n, err := strconv.Atoi(khz); err == nil && plausible(n) {
				return n, nil
			}
		}
	}
	n := measure()
	if !plausible(n) {
		return 0, fmt.Errorf("measured an implausible time stamp counter frequency of %d kHz", n)
	}
	if len(boot) > 0 {
		// A temporary file of a name of its own: never one that someone
		// could have put a link at.
		cache.WriteAtomic(file, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s %d\n", boot, n)
			return err
		})
	}
	return n, nil
}

func plausible(khz int) bool { return khz > 100_000 && khz < 20_000_000 }

// constantRate reports whether the host's counter ticks at a constant
// rate whatever the CPU frequency (the constant_tsc flag).
func constantRate() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "flags") {
			return strings.Contains(" "+line+" ", " constant_tsc ")
		}
	}
	return false
}

// measure returns the counter's frequency in kHz.
func measure() int {
	t0, c0 := sample()
	time.Sleep(window)
	t1, c1 := sample()
	return int(float64(c1-c0) / float64(t1.Sub(t0)) * 1e6)
}

// sample returns a counter read and the time it was made: the middle of
// the narrowest bracket of clock reads of several tries.
func sample() (time.Time, uint64) {
	var best time.Duration = -1
	var at time.Time
	var count uint64
	for range samples {
		a := time.Now()
		c := rdtsc()
		b := time.Now()
		if w := b.Sub(a); best < 0 || w < best {
			best, at, count = w, a.Add(w/2), c
		}
	}
	return at, count
}
