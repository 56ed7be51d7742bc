package builtins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/qmp"
)

// send_monitor_command(command, timeout=300) runs a command of QEMU's
// human monitor (HMP) and returns its output.
func (m *Machine) sendMonitorCommand(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var command string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "command", &command, "timeout?", &timeout); err != nil {
		return nil, err
	}
	var out string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		out, err = rm.MonitorCommand(ctx, command)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(out), nil
}

// wait_for_qmp_event(event_filter, timeout=300) returns the first QMP
// event of the machine's QEMU for which event_filter(event) is true, as
// a dict {"event": name, "data": {...}, "timestamp": {"seconds": s,
// "microseconds": us}}. Events it passes over are consumed, as in the
// NixOS driver; the filter runs on the script's thread.
func (m *Machine) waitForQMPEvent(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var filter starlark.Callable
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "event_filter", &filter, "timeout?", &timeout); err != nil {
		return nil, err
	}
	var until time.Time
	if d := timeout.duration(); d > 0 {
		until = time.Now().Add(d)
	}
	for {
		var ev qmp.Event
		err := m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
			ev, err = rm.NextQMPEvent(ctx, until, timeout.duration())
			return err
		})
		if err != nil {
			return nil, err
		}
		v, err := qmpEventValue(ev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Name(), err)
		}
		ok, err := starlark.Call(thread, filter, starlark.Tuple{v}, nil)
		if err != nil {
			return nil, err
		}
		if ok.Truth() {
			return v, nil
		}
	}
}

// qmpEventValue is a QMP event as the script sees it: the JSON object QEMU
// sent.
func qmpEventValue(ev qmp.Event) (starlark.Value, error) {
	d := starlark.NewDict(3)
	d.SetKey(starlark.String("event"), starlark.String(ev.Name))
	data := starlark.Value(starlark.NewDict(0))
	if len(ev.Data) > 0 {
		var err error
		if data, err = jsonValue(ev.Data); err != nil {
			return nil, fmt.Errorf("event %s: %w", ev.Name, err)
		}
	}
	d.SetKey(starlark.String("data"), data)
	ts := starlark.NewDict(2)
	ts.SetKey(starlark.String("seconds"), starlark.MakeInt64(ev.Time.Unix()))
	ts.SetKey(starlark.String("microseconds"), starlark.MakeInt(ev.Time.Nanosecond()/1000))
	d.SetKey(starlark.String("timestamp"), ts)
	return d, nil
}

// jsonValue decodes JSON into Starlark values: objects as dicts, arrays as
// lists, numbers as ints when whole, else floats.
func jsonValue(raw []byte) (starlark.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("decoding its data: %w", err)
	}
	return toStarlark(x), nil
}

func toStarlark(x any) starlark.Value {
	switch x := x.(type) {
	case map[string]any:
		d := starlark.NewDict(len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			d.SetKey(starlark.String(k), toStarlark(x[k]))
		}
		return d
	case []any:
		l := make([]starlark.Value, len(x))
		for i, v := range x {
			l[i] = toStarlark(v)
		}
		return starlark.NewList(l)
	case string:
		return starlark.String(x)
	case bool:
		return starlark.Bool(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return starlark.MakeInt64(i)
		}
		f, _ := x.Float64()
		return starlark.Float(f)
	}
	return starlark.None
}
