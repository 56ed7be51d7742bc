// Package vmtestbin builds the vmtest binary for tests that boot real
// guests: the binary is both the CLI under test and the guest agent, and
// the agent must be statically linked, whatever CGO_ENABLED the test
// binary itself was built with.
package vmtestbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles ./cmd/vmtest of this module with CGO_ENABLED=0 into dir,
// without symbol tables as make.sh does (a smaller initramfs to unpack),
// and returns the binary's path. Go's build cache makes repeated builds
// cheap.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "vmtest")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, "./cmd/vmtest")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building vmtest: %w\n%s", err, out)
	}
	return bin, nil
}
