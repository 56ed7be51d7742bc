package coverage

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// hostTool is a program Report runs on the host and the Debian package
// that provides it.
type hostTool struct{ name, pkg string }

// gcovTools are needed for any report: lcov captures and combines
// tracefiles (geninfo runs gcov), genhtml renders them.
var gcovTools = []hostTool{
	{"lcov", "lcov"},
	{"geninfo", "lcov"},
	{"genhtml", "lcov"},
	{"gcov", "gcc"},
}

// CheckTools reports the host programs a coverage report needs that are
// not in PATH, with the command that installs them. It is called before
// any machine boots, so a run does not fail only at its end. The go
// command is checked only when Go data turns up (see goTool).
func CheckTools() error {
	var missing, pkgs []string
	for _, t := range gcovTools {
		if _, err := exec.LookPath(t.name); err != nil {
			missing = append(missing, t.name)
			if !slices.Contains(pkgs, t.pkg) {
				pkgs = append(pkgs, t.pkg)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("coverage needs %s on the host, not found in PATH; install with: apt-get install -y %s",
		strings.Join(missing, ", "), strings.Join(pkgs, " "))
}

// goTool returns the go command, which reads Go coverage data.
func goTool() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the machines wrote Go coverage data; reading it needs the go command (Go 1.20 or newer), not found in PATH; install Go from https://go.dev/dl and put it in PATH")
	}
	return p, nil
}
