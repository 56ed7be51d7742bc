package runtime

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/lang"
)

// MaxCPUs is the most CPUs a machine may have: what QEMU's q35 machine
// takes.
const MaxCPUs = 288

// CheckCPUs reports what is wrong with a machine of n CPUs.
func CheckCPUs(n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("want at least 1, got %d", n)
	case n > MaxCPUs:
		return fmt.Errorf("%d CPUs: QEMU's q35 machine takes at most %d", n, MaxCPUs)
	}
	return nil
}

// CheckMemory reports what is wrong with a machine of mib MiB of memory:
// less than MinMemory, or more than the host's memory and swap (QEMU
// could not allocate it).
func CheckMemory(mib int) error {
	if mib < MinMemory {
		return fmt.Errorf("%d MiB is too small: a guest needs at least %d", mib, MinMemory)
	}
	if host := hostMemory(); host > 0 && uint64(mib) > host>>20 {
		return fmt.Errorf("%d MiB (%s) is more than this host's memory and swap (%s)", mib, lang.FormatSize(uint64(mib)<<20), lang.FormatSize(host))
	}
	return nil
}

// hostMemory returns the bytes of the host's memory and swap, or 0 if it
// cannot tell.
func hostMemory() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		if k != "MemTotal" && k != "SwapTotal" {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		total += kb << 10
	}
	return total
}
