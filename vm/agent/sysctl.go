//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/vm/wire"
)

// applySysctls writes each kernel parameter to /proc/sys under root, in
// order. A name is sysctl(8)'s: dots between the parts, or slashes (for a
// part with a dot in it, as an interface eth1.5). The error names the
// parameter and says when the guest has no such one.
func applySysctls(root string, sysctls []wire.Sysctl) error {
	for _, s := range sysctls {
		rel := s.Name
		if !strings.Contains(rel, "/") {
			rel = strings.ReplaceAll(rel, ".", "/")
		}
		rel = filepath.Clean(rel)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("sysctl %s: not a kernel parameter name", s.Name)
		}
		path := filepath.Join(root, "proc/sys", rel)
		if err := os.WriteFile(path, []byte(s.Value+"\n"), 0); err != nil {
			if os.IsNotExist(err) {
				return fmt.Errorf("sysctl %s: the guest's kernel has no such parameter (%s)", s.Name, path)
			}
			return fmt.Errorf("sysctl %s = %s: %w", s.Name, s.Value, unwrapPathError(err))
		}
	}
	return nil
}
