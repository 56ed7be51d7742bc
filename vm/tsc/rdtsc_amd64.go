package tsc

// rdtsc reads the time stamp counter.
func rdtsc() uint64

const supported = true
