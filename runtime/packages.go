package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// DpkgStatus is where dpkg records what is installed.
const DpkgStatus = "/var/lib/dpkg/status"

// MissingPackages returns the packages of want that the dpkg status file
// at status (DpkgStatus if "") does not record as installed, in the order
// of want. A name may carry an architecture ("libc6:amd64"); without one
// any architecture counts. The file is read once; nothing is run.
func MissingPackages(status string, want []string) ([]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	if status == "" {
		status = DpkgStatus
	}
	data, err := os.ReadFile(status)
	if err != nil {
		return nil, fmt.Errorf("checking packages: %w (vmtest reads dpkg's database to know what the guests can run)", err)
	}
	installed := parseDpkgStatus(data)
	var missing []string
	for _, p := range want {
		if !installed[p] {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// parseDpkgStatus returns the set of installed packages, each under its
// name and under name:arch.
func parseDpkgStatus(data []byte) map[string]bool {
	installed := map[string]bool{}
	var name, arch string
	var ok bool
	flush := func() {
		if name != "" && ok {
			installed[name] = true
			if arch != "" {
				installed[name+":"+arch] = true
			}
		}
		name, arch, ok = "", "", false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		key, val, found := strings.Cut(line, ":")
		if !found || strings.HasPrefix(line, " ") {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Package":
			name = val
		case "Architecture":
			arch = val
		case "Status":
			f := strings.Fields(val)
			ok = len(f) == 3 && (f[2] == "installed")
		}
	}
	flush()
	return installed
}

// PackagesError lists packages the host lacks.
type PackagesError struct {
	Missing []string
	// Machines maps each missing package to the machines that want it.
	Machines map[string][]string
}

func (e *PackagesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d package(s) the machines need are not installed on this host (guests run the host's files):", len(e.Missing))
	for _, p := range e.Missing {
		fmt.Fprintf(&b, "\n  %s (wanted by %s)", p, strings.Join(e.Machines[p], ", "))
	}
	fmt.Fprintf(&b, "\ninstall them with:\n  apt-get install -y %s", strings.Join(e.Missing, " "))
	return b.String()
}

// checkPackages returns a *PackagesError naming every package of specs
// not installed according to the dpkg status file, or nil.
func checkPackages(status string, specs []Spec) error {
	missing, err := MissingPackages(status, AllPackages(specs))
	if err != nil || len(missing) == 0 {
		return err
	}
	e := &PackagesError{Missing: missing, Machines: map[string][]string{}}
	for _, s := range specs {
		for _, p := range s.NeededPackages() {
			if l := e.Machines[p]; len(l) == 0 || l[len(l)-1] != s.Name {
				e.Machines[p] = append(l, s.Name)
			}
		}
	}
	return e
}
