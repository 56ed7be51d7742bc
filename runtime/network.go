package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/wire"
)

// Options configure a Network.
type Options struct {
	// Name is the test's name (its file's name without .star).
	Name string
	// OutDir is the test's output directory, which the caller has
	// created: console logs and files copied from machines go there.
	// "" keeps nothing.
	OutDir string
	// Artifacts returns what the machines boot from. It is called at
	// each boot; the caller makes it cheap (prepare once per process).
	Artifacts func(context.Context) (*vm.Artifacts, error)
	// Log receives progress; nil logs nowhere.
	Log *Log
	// DeclareOnly makes every action fail with ErrDeclareOnly after the
	// network is defined: nothing boots. vmtest deps and the script
	// tests use it.
	DeclareOnly bool
	// DpkgStatus is the dpkg status file Define checks packages against
	// ("" for DpkgStatus); NoPackageCheck skips the check.
	DpkgStatus     string
	NoPackageCheck bool
	// SkipUnits makes Define leave the unit files of services unread, for
	// vmtest deps: the packages that have them may not be installed yet.
	// The services are then jobs with a name only; nothing may boot.
	SkipUnits bool
	// HostRoot is the root file system the guests see ("" for "/"): its
	// /etc/passwd and /etc/group are the base of machines' users and
	// groups.
	HostRoot string
	// NewSwitch makes the virtual switch in the run directory at the first
	// boot; nil gives the machines no network interfaces.
	NewSwitch func(dir string) Switch
	// Coverage turns coverage on for every machine (vmtest run
	// --coverage); see CollectCoverage. SourceDir is the test file's
	// directory, from which the sources of Go modules are found.
	Coverage  bool
	SourceDir string
	// Capture records every vlan to net/vlan<N>.pcap in OutDir (--pcap).
	Capture bool
	// ShowScreens logs, at every boot of a machine with a display, the
	// unix socket its screen can be watched on with VNC (--display).
	ShowScreens bool

	// For interactive use (vmtest start, build-vm):
	//
	// RunDir is the run directory to use instead of a new one made at the
	// first boot; Close removes it all the same.
	RunDir *vm.RunDir
	// Disks gives the machines named here the disk to boot from (a
	// ./<name>.qcow2 kept across runs) instead of a fresh one in the run
	// directory.
	Disks map[string]disk.Image
	// QEMUOpts are added to every machine's QEMU command line, after its
	// own qemu_opts ($QEMU_OPTS).
	QEMUOpts []string
}

// Switch is the virtual Ethernet switch the machines' NICs connect to
// (runtime/vswitch, whose methods say what these do).
type Switch interface {
	// Attach adds a port for a NIC of machine name on vlan and returns
	// the unix socket QEMU connects to.
	Attach(vlan int, name string) (socket string, err error)
	// Faults, captures and uplinks, by machine name.
	Block(name string, blocked bool)
	Partition(groups [][]string) error
	Heal()
	SetLink(from, to string, l Link) error
	Capture(vlan int, path string) error
	AttachVDE(vlan int, dir string) error
	// Close stops the switch and waits for its goroutines.
	Close() error
}

// Network is the machines of one run. Its methods are safe for
// concurrent use.
type Network struct {
	opts Options
	log  *Log

	mu       sync.Mutex
	defined  bool
	machines []*Machine // in the order of Define
	byName   map[string]*Machine
	rd       *vm.RunDir // made at the first boot
	sw       Switch
	fx       netState // faults and captures waiting for the switch
	closed   bool
}

// New returns a network with no machines yet; Define gives it its
// machines. Close must be called, even if Define was not.
func New(o Options) *Network {
	l := o.Log
	if l == nil {
		l = NewLog(nil, nil, LogOptions{})
	}
	return &Network{opts: o, log: l, byName: map[string]*Machine{}}
}

// Log returns the network's log.
func (n *Network) Log() *Log { return n.log }

// Define fixes the network's machines, before anything boots: it checks
// the specs (names, vlans, sizes), checks that the host has every package
// they need (unless Options say otherwise), and computes every machine's
// addresses, /etc/hosts and files. It may be called once. Cancelling
// ctx stops the reading of unit files.
func (n *Network) Define(ctx context.Context, specs []Spec) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.defined {
		return errors.New("the network's machines are already defined")
	}
	if err := checkSpecs(specs); err != nil {
		return err
	}
	if !n.opts.NoPackageCheck {
		if err := checkPackages(n.opts.DpkgStatus, specs); err != nil {
			return err
		}
	}
	if err := n.checkCoverage(specs); err != nil {
		return err
	}
	if !n.opts.DeclareOnly {
		if err := checkHostPorts(specs); err != nil {
			return err
		}
	}
	root := n.opts.HostRoot
	if root == "" {
		root = "/"
	}
	specs = slices.Clone(specs)
	for i := range specs {
		s := &specs[i]
		s.Jobs = slices.Clone(s.Jobs)
		var jobs []wire.Job
		var err error
		if n.opts.SkipUnits {
			for _, svc := range s.Services {
				jobs = append(jobs, wire.Job{Name: ServiceName(svc)})
			}
		} else if jobs, err = s.serviceJobs(ctx, root); err != nil {
			return err
		}
		s.Jobs = append(s.Jobs, jobs...)
		if err := s.addX11(); err != nil {
			return err
		}
		if _, err := wire.OrderJobs(s.Jobs); err != nil {
			return fmt.Errorf("machine %s: jobs and services: %w", s.Name, err)
		}
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	nums := HostNumbers(names)
	hosts := hostsFile(specs, nums)
	files := make([][]wire.File, len(specs))
	for i, s := range specs {
		var err error
		if files[i], err = s.bootFiles(root); err != nil {
			return err
		}
		if err := s.checkJobUsers(root); err != nil {
			return err
		}
	}
	hidden, stand, err := n.hiddenPaths(specs, root)
	if err != nil {
		return err
	}
	n.warnInternet(specs)
	for i, s := range specs {
		m := &Machine{net: n, spec: s, index: i, num: nums[s.Name], con: newConsole(nil), hidden: hidden[i]}
		m.files = append(stand[i],
			wire.File{Path: "/etc/hostname", Mode: 0o644, Data: []byte(s.Name + "\n")},
			wire.File{Path: "/etc/hosts", Mode: 0o644, Data: hosts},
		)
		if s.Internet {
			m.files = append(m.files, wire.File{Path: "/etc/resolv.conf", Mode: 0o644, Data: []byte(resolvConf)})
		}
		common := slices.Clone(m.files)
		m.files = append(m.files, files[i]...)
		if err := m.defineConfigs(common, root); err != nil {
			return err
		}
		n.machines = append(n.machines, m)
		n.byName[s.Name] = m
	}
	n.defined = true
	n.log.SetMachines(names)
	return nil
}

// hostsFile is /etc/hosts of every machine: localhost, and each machine's
// first IPv4 and first IPv6 address on its first vlan under its name.
func hostsFile(specs []Spec, nums map[string]int) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, s := range specs {
		if len(s.VLANs) == 0 {
			continue
		}
		for _, a := range firstOfFamilies(NICAddrs(s.VLANs[0], nums[s.Name], s.Addresses)) {
			fmt.Fprintf(&b, "%s\t%s\n", stripPrefix(a), s.Name)
		}
	}
	return []byte(b.String())
}

// firstOfFamilies returns the first IPv4 and the first IPv6 address of
// addrs (CIDR), those there are.
func firstOfFamilies(addrs []string) []string {
	var out []string
	var have4, have6 bool
	for _, a := range addrs {
		is4 := !strings.Contains(a, ":")
		if is4 && !have4 || !is4 && !have6 {
			out = append(out, a)
		}
		have4, have6 = have4 || is4, have6 || !is4
	}
	return out
}

// Machine returns the machine called name, or nil.
func (n *Network) Machine(name string) *Machine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byName[name]
}

// Machines returns the machines in the order of Define.
func (n *Network) Machines() []*Machine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Machine(nil), n.machines...)
}

// act is called by every action before it does anything.
func (n *Network) act() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case !n.defined:
		return errors.New("internal error: an action before the network was defined")
	case n.closed:
		return errors.New("the network is closed")
	case n.opts.DeclareOnly:
		return ErrDeclareOnly
	}
	return nil
}

// Live ends the declaration-only mode of a network made with
// Options.DeclareOnly: from now on its actions run. An interactive session
// evaluates a file's declarations that way, then acts.
func (n *Network) Live() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opts.DeclareOnly = false
}

// StartAll boots every machine that is not running, in parallel, and
// returns when all are up. If one fails to boot, the others' boots are
// cancelled and the first error is returned.
func (n *Network) StartAll(ctx context.Context) error {
	if err := n.act(); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, m := range n.Machines() {
		g.Go(func() error { return m.Start(ctx) })
	}
	return g.Wait()
}

// runDir returns the run directory and the switch, making them at the
// first call.
func (n *Network) runDir() (*vm.RunDir, Switch, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, nil, errors.New("the network is closed")
	}
	if n.rd == nil {
		rd := n.opts.RunDir
		if rd == nil {
			var err error
			if rd, err = vm.NewRunDir(); err != nil {
				return nil, nil, err
			}
		}
		n.rd = rd
		if n.opts.NewSwitch != nil {
			dir := filepath.Join(rd.Path, "net")
			if err := os.Mkdir(dir, 0o700); err != nil {
				return nil, nil, err
			}
			n.sw = n.opts.NewSwitch(dir)
			if err := n.applyPending(n.sw); err != nil {
				return nil, nil, err
			}
		}
	}
	return n.rd, n.sw, nil
}

// Close stops every machine (a power cut: the run is over), the switch,
// and removes the run directory. Call it once the script is done, pass or
// fail; it waits for everything the network started.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	machines := n.machines
	n.mu.Unlock()

	var wg sync.WaitGroup
	for _, m := range machines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.close()
		}()
	}
	wg.Wait()
	var errs []error
	if n.sw != nil {
		errs = append(errs, n.sw.Close())
	}
	if n.rd != nil {
		errs = append(errs, n.rd.Remove())
	}
	return errors.Join(errs...)
}

// Sleep waits for d, or until ctx is done. It is an action: a
// DeclareOnly network stops there.
func (n *Network) Sleep(ctx context.Context, d time.Duration) error {
	if err := n.act(); err != nil {
		return err
	}
	if Pause(ctx, d) != nil {
		return context.Cause(ctx)
	}
	return nil
}

// ownFile reports whether name, at the top of the output directory, is
// one of the files the run writes there itself.
func (n *Network) ownFile(name string) bool {
	switch name {
	case "log.txt", "junit.xml", ".vmtest-out":
		return true
	}
	return strings.HasSuffix(name, ".console.log")
}
