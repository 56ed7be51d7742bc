package builtins

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/runtime/vswitch"
)

// The network's faults, captures and uplinks. None of these is an action:
// they boot nothing and may come before start_all(), taking effect from
// the first boot on; they return at once.

// machineName returns the name of the machine v is (a machine, or its
// name as a string), or an error suggesting the nearest declared name.
func (s *Script) machineName(v starlark.Value) (string, error) {
	switch x := v.(type) {
	case *Machine:
		return x.d.name, nil
	case starlark.String:
		if _, err := s.lookup(string(x)); err != nil {
			return "", errors.New(strings.TrimPrefix(err.Error(), "nodes: "))
		}
		return string(x), nil
	}
	return "", fmt.Errorf("want a machine, got %s", v.Type())
}

// block() cuts the machine off the network: no frame reaches it or leaves
// it, as if its cables were pulled.
func (m *Machine) block(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, wrap(b, m.s.net.Block(m.d.name, true))
}

// unblock() plugs the machine back in.
func (m *Machine) unblock(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, wrap(b, m.s.net.Block(m.d.name, false))
}

// forward_port(host, guest, timeout=300) forwards TCP port host of the
// host's 127.0.0.1 (0: a free one) to port guest of the machine, booting
// it if need be, and returns the host port.
func (m *Machine) forwardPort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var host int
	var guest port
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "host", &host, "guest", &guest, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if host < 0 || host > 65535 {
		return nil, fmt.Errorf("%s: for parameter host: port %d is out of range 0..65535 (0: a free port)", b.Name(), host)
	}
	var got int
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		got, err = rm.ForwardPort(ctx, host, int(guest))
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(got), nil
}

// linkArgs are the qualities of a link, as link() and machine.link() take
// them: latency and jitter in seconds, loss a probability, rate in bits
// per second or as "10mbit".
type linkArgs struct {
	latency, jitter seconds
	loss            number
	rate            rate
}

func (l *linkArgs) pairs() []any {
	return []any{"latency?", &l.latency, "jitter?", &l.jitter, "loss?", &l.loss, "rate?", &l.rate}
}

func (l *linkArgs) link(fnname string) (vswitch.Link, error) {
	if !(l.loss >= 0 && l.loss <= 1) {
		return vswitch.Link{}, fmt.Errorf("%s: for parameter loss: want a probability from 0 to 1, got %v", fnname, l.loss)
	}
	return vswitch.Link{Latency: l.latency.duration(), Jitter: l.jitter.duration(), Loss: float64(l.loss), Rate: uint64(l.rate)}, nil
}

// rate is a bandwidth argument: bits per second as an int, a string with a
// unit of tc(8) ("100kbit", "10mbit", "1gbit"), or None (unlimited).
type rate uint64

var _ starlark.Unpacker = (*rate)(nil)

func (r *rate) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.NoneType:
		*r = 0
		return nil
	case starlark.Int:
		n, ok := x.Uint64()
		if !ok || n == 0 {
			return fmt.Errorf("want a rate above 0 bits per second, got %s", x)
		}
		*r = rate(n)
		return nil
	case starlark.String:
		n, err := parseRate(string(x))
		*r = rate(n)
		return err
	}
	return fmt.Errorf(`want a rate such as "10mbit" or bits per second, got %s`, v.Type())
}

// parseRate reads "10mbit", "1.5gbit", "512kbit" or "9600bit" (decimal
// units, as tc(8) writes them).
func parseRate(s string) (uint64, error) {
	units := map[string]float64{"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf(`rate %q: want a number and a unit, such as "10mbit"`, s)
	}
	var n float64
	if _, err := fmt.Sscan(t[:i], &n); err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf(`rate %q: want a number above 0 and a unit, such as "10mbit"`, s)
	}
	mult, ok := units[t[i:]]
	if !ok {
		hint := "bit, kbit, mbit or gbit"
		if strings.HasSuffix(t[i:], "bps") || strings.HasSuffix(t[i:], "b/s") {
			hint = "bits: kbit, mbit or gbit (tc's \"bps\" means bytes, a frequent mistake)"
		}
		return 0, fmt.Errorf("rate %q: unknown unit %q; want %s", s, t[i:], hint)
	}
	if n*mult < 1 || n*mult > math.MaxUint64/2 {
		return 0, fmt.Errorf("rate %q is out of range", s)
	}
	return uint64(n * mult), nil
}

// machine.link(latency=0, jitter=0, loss=0, rate=None) sets the quality of
// the machine's cable, both ways: every frame it sends or receives goes
// through it. With no arguments the cable is perfect again.
func (m *Machine) link(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var la linkArgs
	if err := unpackArgs(b.Name(), args, kwargs, la.pairs()...); err != nil {
		return nil, err
	}
	l, err := la.link(b.Name())
	if err != nil {
		return nil, err
	}
	return starlark.None, wrap(b, m.s.net.SetLink(m.d.name, "", l, true))
}

// link(a, b, latency=0, jitter=0, loss=0, rate=None, both=True) sets the
// quality of the path from machine a to machine b, and back unless both
// is False. It replaces what a.link() and b.link() do for that pair. With
// no qualities the path is perfect again.
func (s *Script) link(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	var la linkArgs
	both := true
	pairs := append([]any{"a", &x, "b", &y}, la.pairs()...)
	if err := unpackArgs(b.Name(), args, kwargs, append(pairs, "both?", &both)...); err != nil {
		return nil, err
	}
	from, err := s.machineName(x)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter a: %w", b.Name(), err)
	}
	to, err := s.machineName(y)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter b: %w", b.Name(), err)
	}
	if from == to {
		return nil, fmt.Errorf("%s: a link needs two machines, got %s twice", b.Name(), from)
	}
	l, err := la.link(b.Name())
	if err != nil {
		return nil, err
	}
	return starlark.None, wrap(b, s.net.SetLink(from, to, l, both))
}

// partition(*groups) splits the network: machines of different groups no
// longer reach each other; the machines no group names form one more
// group. Each group is a list of machines (or one machine).
func (s *Script) partition(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword argument %q: groups are positional, as in partition([a, b], [c])", b.Name(), string(kwargs[0][0].(starlark.String)))
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: want at least one group of machines, as in partition([a, b], [c]); heal() ends a partition", b.Name())
	}
	var groups [][]string
	for i, g := range args {
		var members []starlark.Value
		switch x := g.(type) {
		case *Machine:
			members = []starlark.Value{x}
		case *starlark.List, starlark.Tuple:
			seq := x.(starlark.Indexable)
			for j := 0; j < seq.Len(); j++ {
				members = append(members, seq.Index(j))
			}
		default:
			return nil, fmt.Errorf("%s: group %d: want a list of machines, got %s", b.Name(), i+1, g.Type())
		}
		if len(members) == 0 {
			return nil, fmt.Errorf("%s: group %d is empty", b.Name(), i+1)
		}
		var names []string
		for _, v := range members {
			name, err := s.machineName(v)
			if err != nil {
				return nil, fmt.Errorf("%s: group %d: %w", b.Name(), i+1, err)
			}
			for j, prev := range groups {
				for _, p := range prev {
					if p == name {
						return nil, fmt.Errorf("%s: machine %s is in group %d and in group %d", b.Name(), name, j+1, i+1)
					}
				}
			}
			for _, p := range names {
				if p == name {
					return nil, fmt.Errorf("%s: machine %s is listed twice in group %d", b.Name(), name, i+1)
				}
			}
			names = append(names, name)
		}
		groups = append(groups, names)
	}
	return starlark.None, wrap(b, s.net.Partition(groups))
}

// heal() ends the partition.
func (s *Script) heal(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, wrap(b, s.net.Heal())
}

// capture(vlans=None) records the frames of the vlans (an int or a list;
// None: all) to net/vlan<N>.pcap in the output directory until the end of
// the run.
func (s *Script) capture(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value = starlark.None
	if err := unpackArgs(b.Name(), args, kwargs, "vlans?", &v); err != nil {
		return nil, err
	}
	var vlans []int
	switch x := v.(type) {
	case starlark.NoneType:
	case starlark.Int:
		var n int
		if err := starlark.AsInt(x, &n); err != nil {
			return nil, fmt.Errorf("%s: for parameter vlans: %w", b.Name(), err)
		}
		vlans = []int{n}
	default:
		l, err := intList(v)
		if err != nil {
			return nil, fmt.Errorf("%s: for parameter vlans: want a vlan or a list of vlans, got %s", b.Name(), v.Type())
		}
		if len(l) == 0 {
			return nil, fmt.Errorf("%s: for parameter vlans: an empty list; None captures every vlan", b.Name())
		}
		vlans = l
	}
	for _, n := range vlans {
		if err := runtime.CheckVLAN(n); err != nil {
			return nil, fmt.Errorf("%s: for parameter vlans: %w", b.Name(), err)
		}
	}
	return starlark.None, wrap(b, s.net.Capture(vlans))
}

// attach_vde(vlan, path) bridges vlan to the running vde_switch whose
// socket directory (vde_switch -s) is path, relative to the calling file's
// directory unless absolute.
func (s *Script) attachVDE(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var vlan int
	var path string
	if err := unpackArgs(b.Name(), args, kwargs, "vlan", &vlan, "path", &path); err != nil {
		return nil, err
	}
	if err := runtime.CheckVLAN(vlan); err != nil {
		return nil, fmt.Errorf("%s: for parameter vlan: %w", b.Name(), err)
	}
	if path == "" {
		return nil, fmt.Errorf("%s: for parameter path: want the vde_switch's socket directory, got an empty string", b.Name())
	}
	if err := runtime.CheckPath(path); err != nil {
		return nil, fmt.Errorf("%s: for parameter path: %w", b.Name(), err)
	}
	if !filepath.IsAbs(path) {
		if file := thread.CallFrame(1).Pos.Filename(); file != "" && !strings.HasPrefix(file, "@") && !strings.HasPrefix(file, "<") {
			path = filepath.Join(filepath.Dir(file), path)
		}
	}
	return starlark.None, wrap(b, s.net.AttachVDE(vlan, path))
}
