package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/wire"
)

// Spec is one machine's resolved configuration, as the script declared it.
type Spec struct {
	Name         string
	Memory       int // MiB
	CPUs         int
	Packages     []string // Debian packages that must be installed on the host
	Files        []File   // written into the guest's root at boot
	Users        []User
	Groups       []Group
	Env          []string // KEY=VALUE for every command run on the machine
	KernelParams []string
	QEMUOpts     []string
	VLANs        []int // one NIC per vlan, in order
	// Hide and Share are patterns of paths of the host root the machine
	// must not see, besides hide.Defaults, and of those it sees after all
	// (see package hide).
	Hide, Share []string
	// Coverage collects what instrumented programs write on the machine
	// (see runtime/coverage); Options.Coverage turns it on for all.
	Coverage bool

	// The network beyond vlans (netspec.go): host ports forwarded to the
	// guest through its user network (eth0), whether that network reaches
	// the outside world, and addresses given instead of computed ones.
	Forwards  []vm.Forward
	Internet  bool
	Addresses map[int][]string // vlan → CIDR addresses; an empty list: none
	// The NICs' MTUs by vlan, kernel parameters set before the interfaces
	// come up, and routes (a default route goes to 0.0.0.0/0 or ::/0):
	// see netlinks.go.
	MTU      map[int]int
	Sysctls  []wire.Sysctl
	Routes   []wire.Route
	Gateways []string // default routes' gateways, one per family at most
	// Disks are empty disks besides the root's (disks.go).
	Disks []Disk
	// Jobs are the machine's jobs, declared to its agent at every boot
	// (see jobs.go); Define adds a job for each of Services, the names of
	// systemd service units (see services.go).
	Jobs     []wire.Job
	Services []string

	// Variants are other configurations the running machine can be
	// switched to (see switch.go).
	Variants []Variant

	// Display gives the machine a screen (see vm.Config.Display); X11
	// implies one.
	Display bool
	X11     bool
}

// HasDisplay reports whether the machine has a screen: display = True or
// x11 = True.
func (s *Spec) HasDisplay() bool { return s.Display || s.X11 }

// Defaults of a Spec's fields.
const (
	DefaultMemory = 512 // MiB
	DefaultCPUs   = 1
	MinMemory     = 64
)

// DefaultVLANs is the vlans a machine is on unless it says otherwise.
func DefaultVLANs() []int { return []int{1} }

// NewSpec returns the spec of a machine called name with every default
// set.
func NewSpec(name string) Spec {
	return Spec{Name: name, Memory: DefaultMemory, CPUs: DefaultCPUs, VLANs: DefaultVLANs()}
}

// check reports what is wrong with s on its own.
func (s *Spec) check() error {
	if err := vm.CheckHostname(s.Name); err != nil {
		return err
	}
	if err := CheckMemory(s.Memory); err != nil {
		return fmt.Errorf("machine %s: memory = %d: %w", s.Name, s.Memory, err)
	}
	if err := CheckCPUs(s.CPUs); err != nil {
		return fmt.Errorf("machine %s: cpus = %d: %w", s.Name, s.CPUs, err)
	}
	if len(s.VLANs) > vm.MaxNICs {
		return fmt.Errorf("machine %s: %d vlans: a machine has at most %d network interfaces", s.Name, len(s.VLANs), vm.MaxNICs)
	}
	seen := map[int]bool{}
	for _, v := range s.VLANs {
		if err := CheckVLAN(v); err != nil {
			return fmt.Errorf("machine %s: %w", s.Name, err)
		}
		if seen[v] {
			return fmt.Errorf("machine %s: vlan %d is listed twice", s.Name, v)
		}
		seen[v] = true
	}
	for _, f := range s.Files {
		if err := CheckGuestPath(f.Path); err != nil {
			return fmt.Errorf("machine %s: files: %w", s.Name, err)
		}
	}
	names := map[string]bool{}
	for _, u := range s.Users {
		if err := CheckAccountName(u.Name); err != nil {
			return fmt.Errorf("machine %s: users: %w", s.Name, err)
		}
		if names[u.Name] {
			return fmt.Errorf("machine %s: users: %s is declared twice", s.Name, u.Name)
		}
		names[u.Name] = true
	}
	for _, g := range s.Groups {
		if err := CheckAccountName(g.Name); err != nil {
			return fmt.Errorf("machine %s: groups: %w", s.Name, err)
		}
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("machine %s: env entry %q is not KEY=VALUE", s.Name, e)
		}
	}
	return s.checkNet()
}

// checkSpecs reports the first problem of specs as a network: a spec's
// own, duplicate names, too many machines.
func checkSpecs(specs []Spec) error {
	if len(specs) > MaxMachines {
		return fmt.Errorf("%d machines: a network has at most %d", len(specs), MaxMachines)
	}
	names := map[string]bool{}
	for i := range specs {
		if err := specs[i].check(); err != nil {
			return err
		}
		if names[specs[i].Name] {
			return fmt.Errorf("duplicate machine name %q", specs[i].Name)
		}
		names[specs[i].Name] = true
	}
	return checkNetwork(specs)
}

// AllPackages returns the packages every spec needs, sorted, each once.
func AllPackages(specs []Spec) []string {
	var all []string
	for _, s := range specs {
		all = append(all, s.NeededPackages()...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// NeededPackages returns the packages the machine needs on the host: its
// packages, and those of an X server if it has x11 = True.
func (s *Spec) NeededPackages() []string {
	if !s.X11 {
		return s.Packages
	}
	return append(slices.Clone(s.Packages), x11Packages...)
}
