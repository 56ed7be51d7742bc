package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/vmtest/vmtest/runtime/coverage"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/wire"
)

// coverage reports whether the machine collects coverage data.
func (m *Machine) coverage() bool { return m.spec.Coverage || m.net.opts.Coverage }

// env is the environment every command on the machine gets on top of the
// agent's: the machine's env, then where coverage data goes.
func (m *Machine) env() []string {
	if !m.coverage() {
		return m.spec.Env
	}
	return append(slices.Clone(m.spec.Env), coverage.Env()...)
}

// jobs returns the machine's jobs as its agent runs them: with coverage
// on, each also gets the coverage environment, as commands do (the data
// is written when a job exits, after prepareCoverage made its directories).
func (m *Machine) jobs() []wire.Job {
	if !m.coverage() || len(m.spec.Jobs) == 0 {
		return m.spec.Jobs
	}
	jobs := slices.Clone(m.spec.Jobs)
	for i := range jobs {
		jobs[i].Env = append(slices.Clone(jobs[i].Env), coverage.Env()...)
	}
	return jobs
}

// prepareCoverage makes the guest directories coverage data goes to, on
// a machine with coverage on that has just booted.
func (m *Machine) prepareCoverage(ctx context.Context) error {
	if !m.coverage() {
		return nil
	}
	st, err := m.vm.Exec(ctx, guest.Command{Shell: coverage.PrepareCommand()})
	if err != nil {
		return m.callFailed(ctx, err, "preparing the coverage directories", 0)
	}
	if st.Exit != 0 {
		return m.errorf(nil, "preparing the coverage directories: %q failed with exit status %d", coverage.PrepareCommand(), st.Exit)
	}
	return nil
}

// noteLost records the first reason why data on the machine's disk may
// be missing. Called with m.mu held.
func (m *Machine) noteLost(why string) {
	if m.lost == "" {
		m.lost = why
	}
}

// checkCoverage checks, before anything boots, that a network with
// coverage on some machine can make its report: the host has the tools,
// and no machine takes the combined tracefile's name.
func (n *Network) checkCoverage(specs []Spec) error {
	if n.opts.DeclareOnly {
		return nil // vmtest deps: lists what a host needs, whatever it has
	}
	on := false
	for _, s := range specs {
		if s.Coverage || n.opts.Coverage {
			on = true
			if s.Name == coverage.Combined {
				return fmt.Errorf("machine %s: with coverage on, no machine may be called %q (its tracefile would be the combined one); rename it", s.Name, s.Name)
			}
		}
	}
	if !on {
		return nil
	}
	return coverage.CheckTools()
}

// CollectCoverage powers off every machine with coverage on that booted,
// all at once, so that their programs get SIGTERM and exit (writing their
// data), reads what they wrote from each machine's disk, and writes the
// report into the coverage/ directory of the output directory (see
// coverage.Report). It prints the summary table. A machine whose power
// was cut during the run contributes what it had synced to its disk,
// marked partial.
//
// It returns nil, nil when no machine has coverage on or none booted,
// and when ctx is already done (the run was interrupted).
// Call it once the script is done and before Close; machines are left
// off.
func (n *Network) CollectCoverage(ctx context.Context) (*coverage.Summary, error) {
	var ms []*Machine
	for _, m := range n.Machines() {
		m.mu.Lock()
		booted := m.vm != nil // its disk holds what its programs wrote
		m.mu.Unlock()
		if m.coverage() && booted {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	if ctx.Err() != nil {
		n.log.Printf("coverage: not collected: %v", context.Cause(ctx))
		return nil, nil
	}
	if n.opts.OutDir == "" {
		return nil, errors.New("coverage: this run keeps no output directory to write the report to")
	}
	rd, _, err := n.runDir()
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(rd.Path, "coverage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name()
	}
	n.log.Printf("coverage: collecting from %s", joinNames(names))
	data := make([]coverage.Machine, len(ms))
	g, gctx := errgroup.WithContext(ctx)
	for i, m := range ms {
		g.Go(func() error {
			dir := filepath.Join(scratch, "data", m.Name())
			partial, err := m.collectCoverage(gctx, dir)
			data[i] = coverage.Machine{Name: m.Name(), Dir: dir, Partial: partial}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := filepath.Join(n.opts.OutDir, "coverage")
	var search []string
	if n.opts.SourceDir != "" {
		search = append(search, n.opts.SourceDir)
	}
	sum, err := coverage.Report(ctx, coverage.Options{Test: n.opts.Name, Out: out, Work: filepath.Join(scratch, "work"), GoSearch: search}, data)
	if err != nil {
		return nil, err
	}
	n.log.Raw(sum.Text())
	n.log.Printf("coverage report: %s", filepath.Join(out, sum.HTML))
	return sum, nil
}

// collectCoverage powers the machine off cleanly if it runs and copies
// what its programs wrote (coverage.GuestDir) from its disk into dst. It
// returns why the data may be partial, "" if it is whole.
func (m *Machine) collectCoverage(ctx context.Context, dst string) (partial string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.vm != nil && m.vm.Running():
		m.net.log.Machinef(m.Name(), "powering off: its programs get SIGTERM and write their coverage data")
		if err := m.vm.Shutdown(ctx); err != nil {
			m.noteLost("it did not power off cleanly: " + reason(err))
			m.net.log.Machinef(m.Name(), "did not power off cleanly: %s", reason(err))
		} else {
			m.cleanOff = true
			m.net.log.Machinef(m.Name(), "powered off")
		}
	case !m.cleanOff:
		m.noteLost("it stopped by itself (powered off, reset or panicked)")
	}
	err = disk.Extract(ctx, m.disk, coverage.GuestDir, dst)
	if errors.Is(err, disk.ErrNotOnDisk) {
		return m.lost, nil // it never got as far as making the directories
	}
	if err != nil {
		return m.lost, m.errorf(err, "reading its coverage data: %v", err)
	}
	return m.lost, nil
}

// joinNames lists names as "a, b and c".
func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	s := names[0]
	for _, n := range names[1 : len(names)-1] {
		s += ", " + n
	}
	return s + " and " + names[len(names)-1]
}
