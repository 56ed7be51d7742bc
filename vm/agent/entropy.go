//go:build linux

package agent

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reseed mixes b into the kernel's input pool, credits it as entropy
// (RNDADDENTROPY) and then forces the kernel's random number generator to
// rekey itself from that pool at once (RNDRESEEDCRNG). Writing to
// /dev/urandom would mix the bytes in but change nothing until the next
// periodic reseed, up to a minute later: a machine revived from a boot
// snapshot would meanwhile draw the same random numbers (and the same TCP
// secrets, ASLR offsets, UUIDs) as every other machine revived from it.
// The per-CPU generators and batched entropy follow the base generator's
// generation, so they rekey on their next use too.
func reseed(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("seeding the random pool: %w", err)
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	info := make([]byte, 8, 8+len(b)+3)
	binary.NativeEndian.PutUint32(info[0:], uint32(8*len(b)))
	binary.NativeEndian.PutUint32(info[4:], uint32(len(b)))
	info = append(info, b...)
	for len(info)%4 != 0 {
		info = append(info, 0)
	}
	if err := ioctl(f, unix.RNDADDENTROPY, unsafe.Pointer(&info[0])); err != nil {
		return fmt.Errorf("adding entropy from the host (RNDADDENTROPY): %w", err)
	}
	// ENODATA: the generator was not ready yet, and is now seeded from the
	// pool that holds the host's bytes anyway.
	if err := ioctl(f, unix.RNDRESEEDCRNG, nil); err != nil && err != unix.ENODATA {
		return fmt.Errorf("reseeding the random number generator (RNDRESEEDCRNG): %w", err)
	}
	return nil
}

func ioctl(f *os.File, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
