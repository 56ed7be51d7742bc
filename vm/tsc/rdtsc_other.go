//go:build !amd64

package tsc

func rdtsc() uint64 { return 0 }

const supported = false
