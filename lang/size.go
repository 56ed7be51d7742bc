package lang

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatSize writes a size in bytes as vmtest's messages do: "2 GiB",
// "1.5 MiB", "100 bytes" (binary units, one decimal at most).
func FormatSize(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f, u := float64(n)/1024, 0
	for f >= 1024 && u < len(units)-1 {
		f, u = f/1024, u+1
	}
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0") + " " + units[u]
}

// ParseSize reads a size as vmtest's flags take it: a number and a
// binary unit, "512MiB", "2GiB", "1.5GiB" (K, M, G, T with or without
// "iB", any case, mean the same), or "0". A number without a unit is
// refused: bytes and MiB are both plausible.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		if t == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("size %q: want a number and a unit, such as 2GiB or 512MiB", s)
	}
	f, err := strconv.ParseFloat(t[:i], 64)
	if err != nil || i == 0 {
		return 0, fmt.Errorf("size %q: want a number and a unit, such as 2GiB or 512MiB", s)
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	shift := map[string]uint{"b": 0, "k": 10, "kib": 10, "m": 20, "mib": 20, "g": 30, "gib": 30, "t": 40, "tib": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; want KiB, MiB, GiB or TiB", s, t[i:])
	}
	v := f * float64(uint64(1)<<sh)
	if v >= math.MaxUint64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(v), nil
}
