package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Phase is where a machine is in its lifecycle.
type Phase int

const (
	Stopped Phase = iota // not booted yet, or stopped: no QEMU runs
	Booting              // a boot is in progress
	Running              // booted; its QEMU runs (until it stops on its own)
)

func (p Phase) String() string {
	return [...]string{"stopped", "booting", "running"}[p]
}

// ErrPowerCut is why a boot failed when Crash cut the power during it.
var ErrPowerCut = errors.New("its power was cut (crash)")

// machineState is where a machine is. Its mutex is never held across I/O:
// a boot takes it only to record each step, so Running, Crash, QMP and the
// guest calls never wait behind the boot's I/O.
type machineState struct {
	mu      sync.Mutex
	ph      Phase
	inst    *instance // the QEMU of the boot in progress, or of the machine up
	step    string    // the boot phase running, while Booting
	crashed bool      // Crash was called during the boot in progress
	abort   context.CancelCauseFunc
	last    BootInfo // how the last successful boot went
	// forwards are the user network's port forwards, set at every boot;
	// ForwardPort adds to them.
	forwards []Forward
}

func (s *machineState) phase() Phase {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ph == Running && isExited(s.inst.exited) {
		return Stopped // on its own: Wait or the next boot releases it
	}
	return s.ph
}

// running returns the instance of a machine that is up, or nil.
func (s *machineState) running() *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ph != Running || isExited(s.inst.exited) {
		return nil
	}
	return s.inst
}

// begin starts a boot, which abort ends; it fails if one is in progress
// or the machine runs. A machine that stopped on its own is released
// first.
func (s *machineState) begin(name string, abort context.CancelCauseFunc) (stale *instance, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ph == Booting:
		return nil, fmt.Errorf("machine %s is already booting", name)
	case s.ph == Running && !isExited(s.inst.exited):
		return nil, fmt.Errorf("machine %s is already running", name)
	}
	stale = s.inst
	s.ph, s.inst, s.step, s.crashed, s.abort = Booting, nil, "", false, abort
	return stale, nil
}

// enter records that the boot runs the phase called step.
func (s *machineState) enter(step string) {
	s.mu.Lock()
	s.step = step
	s.mu.Unlock()
}

// attach makes inst, just started, the boot's instance; false if Crash
// was called meanwhile: the caller must kill it.
func (s *machineState) attach(inst *instance) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crashed {
		return false
	}
	s.inst = inst
	return true
}

// end records the outcome of the boot: up with inst (err nil), or
// stopped.
func (s *machineState) end(inst *instance, info BootInfo, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abort = nil
	if err != nil || s.crashed {
		s.ph, s.inst = Stopped, nil
		return
	}
	s.ph, s.inst, s.last = Running, inst, info
}

// cut is Crash's part: it ends a boot in progress and returns the
// instance to kill (nil if none runs).
func (s *machineState) cut() *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ph == Booting {
		s.crashed = true
		s.abort(ErrPowerCut)
	}
	return s.inst
}

// detach forgets inst, which has been killed, if it is the current one.
func (s *machineState) detach(inst *instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst == inst && s.ph != Booting {
		s.ph, s.inst = Stopped, nil
	}
}

// boot runs one boot: the phases of the machine's kind (see kind), again
// without the boot snapshot when QEMU refuses it.
func (m *Machine) boot(ctx context.Context) error {
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	stale, err := m.state.begin(m.cfg.Name, abort)
	if err != nil {
		return err
	}
	if stale != nil {
		stale.kill()
		stale.close()
	}
	inst, info, err := m.attempts(ctx)
	if err != nil && context.Cause(ctx) == ErrPowerCut {
		m.state.mu.Lock()
		step := m.state.step
		m.state.mu.Unlock()
		err = fmt.Errorf("machine %s: the boot failed while %s: %w", m.cfg.Name, step, ErrPowerCut)
	}
	m.state.end(inst, info, err)
	if err == nil && context.Cause(ctx) == ErrPowerCut {
		// Crash came after the last phase, before the boot was recorded.
		inst.kill()
		inst.close()
		return fmt.Errorf("machine %s: %w", m.cfg.Name, ErrPowerCut)
	}
	return err
}

// attempts boots as the snapshot store plans: a snapshot that QEMU
// refuses, or whose machine does not come up, is removed and the machine
// boots cold, saving it anew; a third attempt never revives.
func (m *Machine) attempts(ctx context.Context) (*instance, BootInfo, error) {
	store, key := m.art.snapshots, ""
	if ownsMemory(m.cfg.QEMUOpts) {
		store = nil // boots cold
	}
	if store != nil {
		key = m.snapshotKey()
	}
	for attempt := 1; ; attempt++ {
		m.state.enter("waiting for the boot snapshot of its shape")
		plan, err := store.plan(ctx, key)
		if err != nil {
			return nil, BootInfo{}, fmt.Errorf("machine %s: waiting for the boot snapshot of its shape: %w", m.cfg.Name, err)
		}
		if plan.revive != nil && attempt > 2 {
			plan.revive.Close()
			plan = coldPlan("")
		}
		b := &bootRun{m: m, plan: plan}
		err = b.run(ctx)
		var refused *refusedError
		if errors.As(err, &refused) && ctx.Err() == nil {
			m.consoleNote("the boot snapshot was refused (%s); booting cold", refusedWhy(refused))
			store.reject(ctx, key, plan.id)
			continue
		}
		if err != nil {
			return nil, BootInfo{}, err
		}
		return b.inst, b.info, nil
	}
}

// refusedError is a revive from a boot snapshot that failed: QEMU did not
// load it, or the machine did not answer after it.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// refusedWhy says in one line why a snapshot was refused.
func refusedWhy(refused *refusedError) string {
	var be *BootError
	if !errors.As(refused.err, &be) {
		return refused.err.Error()
	}
	why := be.Reason
	if lines := strings.Split(strings.TrimSpace(be.Stderr), "\n"); lines[len(lines)-1] != "" {
		why += ": " + lines[len(lines)-1]
	}
	return why
}

// consoleNote writes a line of vmtest's own on the machine's console log.
func (m *Machine) consoleNote(format string, args ...any) {
	fmt.Fprintf(m.con, "[vmtest: "+format+"]\n", args...)
}

// BootInfo says how a machine's last boot went.
type BootInfo struct {
	// Revived: it started from the boot snapshot of its shape.
	Revived bool
	// Saved: it booted cold and saved the boot snapshot of its shape.
	Saved bool
	// Note says why a snapshot could not be saved, "" if nothing went
	// wrong.
	Note string
}
