package runtime

import (
	"fmt"
	"strings"
)

// Linux's limits on a path and on each name in it.
const (
	maxPath = 4095
	maxName = 255
)

// CheckGuestPath reports what is wrong with a path in a guest that a
// script gives: it must be absolute, and a path Linux takes (no NUL
// byte, at most 4095 bytes, names of at most 255).
func CheckGuestPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("want an absolute guest path, got %s", quotePath(p))
	}
	return CheckPath(p)
}

// CheckPath reports a path, absolute or not, of the host or a guest,
// that Linux would refuse.
func CheckPath(p string) error {
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%s holds a NUL byte, which no path can", quotePath(p))
	}
	if len(p) > maxPath {
		return fmt.Errorf("%s is %d bytes long; a path has at most %d", quotePath(p), len(p), maxPath)
	}
	for _, name := range strings.Split(p, "/") {
		if len(name) > maxName {
			return fmt.Errorf("%s has a name of %d bytes; a name has at most %d", quotePath(p), len(name), maxName)
		}
	}
	return nil
}

// quotePath quotes a path for an error, cut to its first 200 bytes.
func quotePath(p string) string {
	if len(p) > 200 {
		return fmt.Sprintf("%q... (%d bytes)", p[:200], len(p))
	}
	return fmt.Sprintf("%q", p)
}
