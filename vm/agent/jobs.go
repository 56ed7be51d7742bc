//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// Supervisor runs a machine's jobs (wire.Job): it starts them in the
// order of their After lists, restarts them by policy, answers for their
// state, and stops them in reverse order. Its methods are safe for
// concurrent use. Every goroutine it starts ends by Close.
type Supervisor struct {
	reaper *Reaper
	event  func(wire.Event)

	// Console receives the output of jobs without an output file, and the
	// supervisor's own messages; nil means os.Stderr (the guest's
	// console). Cgroup, if set, is where a cgroup v2 hierarchy is (or is
	// mounted): each start of a job gets its own cgroup there. Without it
	// a job's processes are tracked by process group. Both are read at
	// the first Define.
	Console io.Writer
	Cgroup  string
	// RunRoot, if set, is the root whose /run Define prepares, before any
	// job starts, as systemd-tmpfiles would at boot (see prepareRun).
	RunRoot string

	consoleMu sync.Mutex
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu      sync.Mutex
	jobs    map[string]*job
	order   []*job // declaration order, each after the jobs it needs
	cgroups string // the cgroup root in use ("": process groups)
	closed  bool
}

// NewSupervisor returns a Supervisor that starts processes through reaper
// and reports state changes through event (nil: nowhere).
func NewSupervisor(reaper *Reaper, event func(wire.Event)) *Supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{reaper: reaper, event: event, ctx: ctx, cancel: cancel, jobs: map[string]*job{}}
}

// logf writes one of the supervisor's own lines to the console.
func (s *Supervisor) logf(format string, args ...any) {
	s.consoleMu.Lock()
	defer s.consoleMu.Unlock()
	fmt.Fprintf(s.console(), "vmtest: "+format+"\n", args...)
}

func (s *Supervisor) console() io.Writer {
	if s.Console != nil {
		return s.Console
	}
	return os.Stderr
}

// Define declares jobs and starts those with Autostart. It may be called
// once per boot; the jobs' After lists must name declared jobs without a
// cycle.
func (s *Supervisor) Define(specs []wire.Job) error {
	jobs, order, err := checkJobs(specs)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the machine is stopping")
	}
	if len(s.jobs) > 0 {
		return errors.New("jobs are already declared on this boot")
	}
	if s.Cgroup != "" {
		if err := cgroupRoot(s.Cgroup); err != nil {
			s.logf("jobs: no cgroups (%v): tracking jobs by process group", err)
		} else {
			s.cgroups = s.Cgroup
		}
	}
	if s.RunRoot != "" {
		prepareRun(s.RunRoot)
	}
	for _, j := range order {
		j.sup = s
		j.changed = make(chan struct{})
		j.wake = make(chan struct{}, 1)
		j.state = wire.JobInactive
	}
	s.jobs, s.order = jobs, order
	for _, j := range order {
		s.wg.Add(1)
		go j.loop(s.ctx)
	}
	for _, j := range order {
		if j.spec.Autostart {
			j.start()
		}
	}
	return nil
}

// checkJobs validates declarations: names, commands, readiness, and the
// After lists (every name declared, no cycle, which the error shows as a
// chain). It returns the jobs by name and in an order where each comes
// after the jobs it needs.
func checkJobs(specs []wire.Job) (map[string]*job, []*job, error) {
	idx, err := wire.OrderJobs(specs)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs: %w", err)
	}
	jobs := map[string]*job{}
	all := make([]*job, len(specs))
	for i := range specs {
		sp := specs[i]
		if err := checkJobSpec(&sp); err != nil {
			return nil, nil, fmt.Errorf("job %s: %w", sp.Name, err)
		}
		all[i] = &job{spec: sp}
		jobs[sp.Name] = all[i]
	}
	for _, j := range all {
		for _, a := range j.spec.After {
			j.after = append(j.after, jobs[a])
			jobs[a].before = append(jobs[a].before, j)
		}
	}
	order := make([]*job, len(idx))
	for k, i := range idx {
		order[k] = all[i]
	}
	return jobs, order, nil
}

// checkJobSpec checks one declaration on its own.
func checkJobSpec(sp *wire.Job) error {
	switch sp.Type {
	case "":
		sp.Type = wire.JobSimple
	case wire.JobSimple, wire.JobForking, wire.JobNotify, wire.JobOneshot:
	default:
		return fmt.Errorf("type %q: want simple, forking, notify or oneshot", sp.Type)
	}
	if sp.Type != wire.JobOneshot && len(sp.Start) != 1 {
		return fmt.Errorf("a %s job has exactly one start command, got %d", sp.Type, len(sp.Start))
	}
	for _, c := range append(append(append([]wire.JobCommand(nil), sp.Pre...), sp.Start...), sp.Post...) {
		if len(c.Argv) == 0 {
			return errors.New("an empty command")
		}
	}
	switch sp.Restart {
	case "":
		sp.Restart = wire.RestartNo
	case wire.RestartNo, wire.RestartOnFailure, wire.RestartAlways:
	default:
		return fmt.Errorf("restart %q: want no, on-failure or always", sp.Restart)
	}
	if sp.StopSignal != "" && signalNumber(sp.StopSignal) == 0 {
		return fmt.Errorf("stop signal %q is not a signal name", sp.StopSignal)
	}
	for _, p := range []string{sp.Stdout, sp.Stderr, sp.PIDFile} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("path %q must be absolute", p)
		}
	}
	return checkReady(sp.Ready)
}

// lookup returns the job called name, or an error naming the declared
// ones.
func (s *Supervisor) lookup(name string) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.TrimSuffix(name, ".service")
	if j := s.jobs[name]; j != nil {
		return j, nil
	}
	var names []string
	for _, j := range s.order {
		names = append(names, j.spec.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no job %s: this machine has no jobs", name)
	}
	return nil, fmt.Errorf("no job %s (jobs: %s)", name, strings.Join(names, ", "))
}

// Start starts the job called name unless it is starting or running.
func (s *Supervisor) Start(name string) error {
	j, err := s.lookup(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("job %s: the machine is powering off", name)
	}
	j.start()
	return nil
}

// Stop stops the job called name and returns once its processes are
// gone, or ctx is done.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	j, err := s.lookup(name)
	if err != nil {
		return err
	}
	return j.stop(ctx)
}

// Status returns the status of the job called name, or of every job when
// name is "".
func (s *Supervisor) Status(name string) ([]wire.JobStatus, error) {
	if name != "" {
		j, err := s.lookup(name)
		if err != nil {
			return nil, err
		}
		return []wire.JobStatus{j.status()}, nil
	}
	s.mu.Lock()
	order := s.order
	s.mu.Unlock()
	var all []wire.JobStatus
	for _, j := range order {
		all = append(all, j.status())
	}
	return all, nil
}

// ErrJobNotReady is wrapped by Wait's errors when the job failed, exited,
// was stopped or skipped: waiting longer would not help.
var ErrJobNotReady = errors.New("job will not become ready")

// Wait waits until the job called name is ready and returns its status.
// It fails at once (with ErrJobNotReady) when the job is in a state it
// will not leave by itself, and with ctx's error when ctx is done.
func (s *Supervisor) Wait(ctx context.Context, name string) (wire.JobStatus, error) {
	j, err := s.lookup(name)
	if err != nil {
		return wire.JobStatus{}, err
	}
	for {
		st, changed := j.statusAndChange()
		switch st.State {
		case wire.JobRunning, wire.JobDone:
			return st, nil
		case wire.JobFailed, wire.JobExited, wire.JobStopped, wire.JobSkipped:
			return st, fmt.Errorf("%w: %s", ErrJobNotReady, describeEnd(st))
		case wire.JobInactive:
			if !j.started() {
				return st, fmt.Errorf("%w: job %s was never started", ErrJobNotReady, name)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return j.status(), ctx.Err() // with the output since
		}
	}
}

// describeEnd says how a job that will not become ready ended.
func describeEnd(st wire.JobStatus) string {
	var why string
	switch st.State {
	case wire.JobStopped:
		why = "was stopped"
	case wire.JobSkipped:
		why = "was skipped: " + st.Error
	case wire.JobExited:
		why = "exited (" + st.Exit + ") and is not restarted"
	default:
		why = "failed: " + st.Error
	}
	return fmt.Sprintf("job %s %s", st.Name, why)
}

// StopAll stops every job, each after the jobs that start after it (in
// parallel where the order allows), waiting at most until ctx is done;
// then it ends the supervisor's goroutines. The machine is about to power
// off: nothing starts again.
func (s *Supervisor) StopAll(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	order := s.order
	s.mu.Unlock()
	if len(order) > 0 {
		s.logf("stopping %d job(s)", len(order))
	}
	stopped := map[*job]chan struct{}{}
	for _, j := range order {
		stopped[j] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, j := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stopped[j])
			for _, b := range j.before {
				select {
				case <-stopped[b]:
				case <-ctx.Done():
				}
			}
			j.stop(ctx)
		}()
	}
	wg.Wait()
	s.cancel()
	s.wg.Wait()
}

// Close stops everything at once (for tests): the jobs are stopped as by
// StopAll with a short bound.
func (s *Supervisor) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s.StopAll(ctx)
}

// report sends a job's state change to the host.
func (s *Supervisor) report(name, state, msg string) {
	if s.event != nil {
		s.event(wire.Event{Name: "job", Job: name, State: state, Message: msg})
	}
}

// newGroup makes the procGroup of one start of the job called name.
func (s *Supervisor) newGroup(name string) (procGroup, error) {
	s.mu.Lock()
	root := s.cgroups
	s.mu.Unlock()
	if root == "" {
		return &pgroups{}, nil
	}
	return newCgroup(filepath.Join(root, "vmtest-job."+strings.ReplaceAll(name, "/", "_")))
}

// addJobHandlers registers the job operations of the wire protocol.
func (s *Server) addJobHandlers() {
	s.handler[wire.OpJobs] = func(_ context.Context, _ *request, req wire.Request) wire.Result {
		if err := s.Jobs.Define(req.Jobs); err != nil {
			return wire.Result{Error: err.Error()}
		}
		return wire.Result{}
	}
	s.handler[wire.OpJobStart] = func(_ context.Context, _ *request, req wire.Request) wire.Result {
		if err := s.Jobs.Start(req.Job); err != nil {
			return wire.Result{Error: err.Error()}
		}
		return wire.Result{}
	}
	s.handler[wire.OpJobStop] = func(ctx context.Context, _ *request, req wire.Request) wire.Result {
		if err := s.Jobs.Stop(ctx, req.Job); err != nil {
			return wire.Result{Error: err.Error()}
		}
		st, _ := s.Jobs.Status(req.Job)
		return wire.Result{Jobs: st}
	}
	s.handler[wire.OpJobStatus] = func(_ context.Context, _ *request, req wire.Request) wire.Result {
		st, err := s.Jobs.Status(req.Job)
		if err != nil {
			return wire.Result{Error: err.Error()}
		}
		return wire.Result{Jobs: st}
	}
	// The wait is bounded by the host, which cancels the request: the
	// guest's clock may run fast (see wire.Request.TimeoutMS).
	s.handler[wire.OpJobWait] = func(ctx context.Context, _ *request, req wire.Request) wire.Result {
		st, err := s.Jobs.Wait(ctx, req.Job)
		res := wire.Result{Jobs: []wire.JobStatus{st}}
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			res.Error = fmt.Sprintf("cancelled while waiting for job %s", req.Job)
		default:
			res.Error = strings.TrimPrefix(err.Error(), ErrJobNotReady.Error()+": ")
		}
		if len(st.Name) == 0 {
			res.Jobs = nil
		}
		return res
	}
}
