package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/runtime/vswitch"
)

// Link is the quality of a link between machines (runtime/vswitch).
type Link = vswitch.Link

// netOp is a change to the switch. The switch is made at the first boot;
// a change before that waits for it (see Network.change).
type netOp func(Switch) error

// netState is what the network keeps for its switch: the changes waiting
// for it to be made.
type netState struct {
	pending  []netOp
	vdeVLANs []int // the vlans bridged to a vde_switch
}

// change applies op to the switch now if it exists and keeps it for when
// it is made otherwise, so that faults, captures and uplinks may be set
// before anything boots. In a DeclareOnly network nothing is ever made,
// and op is dropped.
func (n *Network) change(op netOp) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return errors.New("the network is closed")
	case n.sw != nil:
		return op(n.sw)
	case n.opts.DeclareOnly:
		return nil
	case n.opts.NewSwitch == nil:
		return errors.New("this network has no switch")
	}
	n.fx.pending = append(n.fx.pending, op)
	return nil
}

// applyPending applies the changes made before the switch was. The
// caller holds n.mu and has just made sw.
func (n *Network) applyPending(sw Switch) error {
	ops := n.fx.pending
	n.fx.pending = nil
	if n.opts.Capture {
		ops = append([]netOp{func(sw Switch) error { return n.captureLocked(sw, nil) }}, ops...)
	}
	for _, op := range ops {
		if err := op(sw); err != nil {
			return err
		}
	}
	return nil
}

// Block cuts machine name off the network (blocked true), as if its
// cables were pulled, or plugs it back in. It need not be running.
func (n *Network) Block(name string, blocked bool) error {
	if err := n.known(name); err != nil {
		return err
	}
	if err := n.change(func(sw Switch) error { sw.Block(name, blocked); return nil }); err != nil {
		return err
	}
	if blocked {
		n.log.Machinef(name, "blocked: no frame reaches it or leaves it")
	} else {
		n.log.Machinef(name, "unblocked")
	}
	return nil
}

// Partition splits the machines into groups that do not reach each
// other; the machines no group names form one more group. It replaces an
// earlier partition.
func (n *Network) Partition(groups [][]string) error {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, name := range g {
			if err := n.known(name); err != nil {
				return err
			}
			if seen[name] {
				return fmt.Errorf("machine %s is in two groups", name)
			}
			seen[name] = true
		}
	}
	groups = slices.Clone(groups)
	if err := n.change(func(sw Switch) error { return sw.Partition(groups) }); err != nil {
		return err
	}
	var parts []string
	for _, g := range groups {
		parts = append(parts, strings.Join(g, " "))
	}
	var rest []string
	for _, m := range n.Machines() {
		if !seen[m.Name()] {
			rest = append(rest, m.Name())
		}
	}
	if len(rest) > 0 {
		parts = append(parts, strings.Join(rest, " "))
	}
	n.log.Printf("partition: %s", strings.Join(parts, " | "))
	return nil
}

// Heal ends the partition.
func (n *Network) Heal() error {
	if err := n.change(func(sw Switch) error { sw.Heal(); return nil }); err != nil {
		return err
	}
	n.log.Printf("healed: every machine reaches every other")
	return nil
}

// SetLink gives the link from machine from to machine to the quality l
// (see vswitch.Switch.SetLink: "" is any machine), and the way back too
// if both.
func (n *Network) SetLink(from, to string, l Link, both bool) error {
	for _, name := range []string{from, to} {
		if name != "" {
			if err := n.known(name); err != nil {
				return err
			}
		}
	}
	if err := l.Check(); err != nil {
		return err
	}
	err := n.change(func(sw Switch) error {
		if err := sw.SetLink(from, to, l); err != nil || !both {
			return err
		}
		return sw.SetLink(to, from, l)
	})
	if err != nil {
		return err
	}
	arrow := " -> "
	if both {
		arrow = " <-> "
	}
	n.log.Printf("link %s%s%s: %s", orAny(from), arrow, orAny(to), l)
	return nil
}

func orAny(name string) string {
	if name == "" {
		return "*"
	}
	return name
}

// Capture records the frames of vlans (nil: every vlan of the network) to
// net/vlan<N>.pcap in the output directory, from now to the end of the
// run.
func (n *Network) Capture(vlans []int) error {
	if n.opts.OutDir == "" && !n.opts.DeclareOnly {
		return errors.New("this run keeps no files (no output directory) to capture to")
	}
	for _, v := range vlans {
		if err := CheckVLAN(v); err != nil {
			return err
		}
	}
	vlans = slices.Clone(vlans)
	return n.change(func(sw Switch) error { return n.captureLocked(sw, vlans) })
}

// captureLocked starts the captures of vlans (nil: all) on sw. The caller
// holds n.mu.
func (n *Network) captureLocked(sw Switch, vlans []int) error {
	if vlans == nil {
		for _, m := range n.machines {
			vlans = append(vlans, m.spec.VLANs...)
		}
		vlans = append(vlans, n.fx.vdeVLANs...)
		slices.Sort(vlans)
		vlans = slices.Compact(vlans)
	}
	dir := filepath.Join(n.opts.OutDir, "net")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	for _, v := range vlans {
		path := filepath.Join(dir, fmt.Sprintf("vlan%d.pcap", v))
		if err := sw.Capture(v, path); err != nil {
			return err
		}
		n.log.Printf("capturing vlan %d to %s", v, path)
	}
	return nil
}

// AttachVDE bridges vlan to the vde_switch whose socket directory is dir
// (see vswitch.Switch.AttachVDE), from the first boot on.
func (n *Network) AttachVDE(vlan int, dir string) error {
	if err := CheckVLAN(vlan); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no vde_switch at %s: %w", dir, err)
	}
	n.mu.Lock()
	if slices.Contains(n.fx.vdeVLANs, vlan) {
		n.mu.Unlock()
		return fmt.Errorf("vlan %d is attached to a vde_switch already", vlan)
	}
	n.fx.vdeVLANs = append(n.fx.vdeVLANs, vlan)
	n.mu.Unlock()
	err := n.change(func(sw Switch) error {
		if err := sw.AttachVDE(vlan, dir); err != nil {
			return err
		}
		n.log.Printf("vlan %d is bridged to the vde_switch %s", vlan, dir)
		return nil
	})
	return err
}

// known reports an error unless the network, once defined, has a machine
// called name. (Before Define, the builtins check names against the
// declarations.)
func (n *Network) known(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.defined && n.byName[name] == nil {
		return fmt.Errorf("no machine %q", name)
	}
	return nil
}
