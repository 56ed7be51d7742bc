//go:build linux

package agent

import (
	"bytes"
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// supervise returns a Supervisor on the host (jobs tracked by process
// group), its console, and the events it reported; it is closed when the
// test ends.
func supervise(t *testing.T) (*Supervisor, *syncBuffer, func() []wire.Event) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	reaper := NewReaper()
	done := make(chan struct{})
	go func() { reaper.Run(ctx); close(done) }()
	var mu sync.Mutex
	var events []wire.Event
	s := NewSupervisor(reaper, func(ev wire.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	console := &syncBuffer{}
	s.Console = console
	t.Cleanup(func() {
		s.Close()
		stop()
		<-done
	})
	return s, console, func() []wire.Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
}

func sh(script string) []wire.JobCommand {
	return []wire.JobCommand{{Argv: []string{script}, Shell: true}}
}

func waitJob(t *testing.T, s *Supervisor, name string, limit time.Duration) (wire.JobStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return s.Wait(ctx, name)
}

// waitState polls until the job is in state.
func waitState(t *testing.T, s *Supervisor, name, state string) wire.JobStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := s.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].State == state {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s: %+v", name, st[0].State, state, st[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJobsStartInOrderOfAfter(t *testing.T) {
	s, console, events := supervise(t)
	dir := t.TempDir()
	err := s.Define([]wire.Job{
		{Name: "web", Start: sh("test -e " + dir + "/db && echo saw the database; exec sleep 60"), After: []string{"db"}, Autostart: true},
		{Name: "db", Start: sh("sleep 0.3; touch " + dir + "/db; echo database is up; exec sleep 60"),
			Ready: []wire.Ready{{Log: "^database is up$"}}, Autostart: true, Stdout: dir + "/db.log"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := waitJob(t, s, "web", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != wire.JobRunning || st.PID == 0 || st.Starts != 1 {
		t.Errorf("web: %+v", st)
	}
	waitFor := func(what string, ok func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s; console:\n%s", what, console.String())
			}
		}
	}
	waitFor("web output on the console", func() bool { return strings.Contains(console.String(), "[web] saw the database\n") })
	if b, _ := os.ReadFile(dir + "/db.log"); string(b) != "database is up\n" {
		t.Errorf("db.log: %q", b)
	}
	if strings.Contains(console.String(), "database is up") {
		t.Errorf("output sent to a file reached the console too:\n%s", console.String())
	}
	waitFor("running events", func() bool {
		var got []string
		for _, ev := range events() {
			got = append(got, ev.Job+" "+ev.State)
		}
		return slices.Equal(got, []string{"db running", "web running"})
	})
}

func TestJobsStopInReverseOrder(t *testing.T) {
	s, _, _ := supervise(t)
	dir := t.TempDir()
	log := dir + "/stops"
	trap := func(name string) []wire.JobCommand {
		return sh("trap 'echo " + name + " >> " + log + "; exit 0' TERM; echo up; while :; do sleep 0.05; done")
	}
	err := s.Define([]wire.Job{
		{Name: "a", Start: trap("a"), Autostart: true, Ready: []wire.Ready{{Log: "up"}}},
		{Name: "b", Start: trap("b"), Autostart: true, After: []string{"a"}, Ready: []wire.Ready{{Log: "up"}}},
		{Name: "c", Start: trap("c"), Autostart: true, After: []string{"b"}, Ready: []wire.Ready{{Log: "up"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := waitJob(t, s, "c", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.StopAll(ctx)
	if b, _ := os.ReadFile(log); string(b) != "c\nb\na\n" {
		t.Errorf("stopped in the order %q, want c, b, a", b)
	}
	for _, st := range must(s.Status("")) {
		if st.State != wire.JobStopped {
			t.Errorf("after StopAll: %+v", st)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestJobStopSignalsThenKills(t *testing.T) {
	s, console, _ := supervise(t)
	dir := t.TempDir()
	err := s.Define([]wire.Job{
		{Name: "flush", Start: sh("trap 'echo flushed > " + dir + "/state; exit 0' TERM; echo up; while :; do sleep 0.05; done"),
			Autostart: true, Ready: []wire.Ready{{Log: "up"}}},
		{Name: "stubborn", Start: sh("trap '' TERM; echo up; while :; do sleep 0.05; done"),
			Autostart: true, StopTimeoutMS: 300, Ready: []wire.Ready{{Log: "up"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flush", "stubborn"} {
		st, err := waitJob(t, s, name, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		pid := st.PID
		if err := s.Stop(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		if processAlive(pid) {
			t.Errorf("%s: process %d survived the stop", name, pid)
		}
		if st := must(s.Status(name))[0]; st.State != wire.JobStopped {
			t.Errorf("%s after stop: %+v", name, st)
		}
		if _, err := waitJob(t, s, name, time.Second); err == nil || !strings.Contains(err.Error(), "job "+name+" was stopped") {
			t.Errorf("waiting for a stopped job: %v", err)
		}
	}
	if b, _ := os.ReadFile(dir + "/state"); string(b) != "flushed\n" {
		t.Errorf("the job did not flush on SIGTERM: %q", b)
	}
	if !strings.Contains(console.String(), "job stubborn: still running SIGTERM after 300ms: SIGKILL") {
		t.Errorf("console:\n%s", console.String())
	}
	// A stopped job starts again.
	if err := s.Start("flush"); err != nil {
		t.Fatal(err)
	}
	if st, err := waitJob(t, s, "flush", 20*time.Second); err != nil || st.Starts != 2 {
		t.Fatalf("restarted by hand: %+v %v", st, err)
	}
}

func TestJobFailures(t *testing.T) {
	s, console, _ := supervise(t)
	err := s.Define([]wire.Job{
		{Name: "quits", Start: sh("echo starting; echo cannot open the database >&2; exit 3"), Autostart: true},
		{Name: "missing", Start: []wire.JobCommand{{Argv: []string{"/no/such/daemon", "-f"}}}, Autostart: true},
		{Name: "notfound", Start: []wire.JobCommand{{Argv: []string{"no-such-daemon-xyz"}}}, Autostart: true},
		{Name: "dependent", Start: sh("sleep 60"), After: []string{"quits"}, Autostart: true},
		{Name: "never", Start: sh("echo waiting for nothing; sleep 60"), Ready: []wire.Ready{{Port: 1}}, Autostart: true},
		{Name: "skipped", Start: sh("sleep 60"), Autostart: true,
			Conditions: []wire.Condition{{Kind: "path_exists", Path: "/no/such/file", Directive: "ConditionPathExists=/no/such/file"}}},
		{Name: "asserted", Start: sh("sleep 60"), Autostart: true,
			Conditions: []wire.Condition{{Kind: "path_is_directory", Path: "/no/such/dir", Assert: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ job, state, err, output string }{
		{"quits", wire.JobFailed, "job quits failed: it exited with status 3", "cannot open the database"},
		{"missing", wire.JobFailed, "job missing failed: exec /no/such/daemon: no such file or directory", ""},
		{"notfound", wire.JobFailed, "job notfound failed: exec no-such-daemon-xyz: command not found in PATH", ""},
		{"dependent", wire.JobFailed, "job dependent failed: it starts after job quits, which failed: it exited with status 3", ""},
		{"skipped", wire.JobSkipped, "job skipped was skipped: ConditionPathExists=/no/such/file does not hold", ""},
		{"asserted", wire.JobFailed, "job asserted failed: path_is_directory /no/such/dir does not hold", ""},
	} {
		st, err := waitJob(t, s, tc.job, 20*time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.err) || st.State != tc.state {
			t.Errorf("%s: %+v, %v; want %s and %q", tc.job, st, err, tc.state, tc.err)
		}
		if tc.output != "" && !slices.Contains(st.Output, tc.output) {
			t.Errorf("%s: output %q lacks %q", tc.job, st.Output, tc.output)
		}
	}
	// A readiness that never comes: the wait times out, the job goes on.
	for deadline := time.Now().Add(20 * time.Second); !slices.Contains(must(s.Status("never"))[0].Output, "waiting for nothing"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: no output: %+v", must(s.Status("never")))
		}
	}
	st, err := waitJob(t, s, "never", 300*time.Millisecond)
	if err != context.DeadlineExceeded || st.State != wire.JobStarting || !slices.Contains(st.Output, "waiting for nothing") {
		t.Errorf("never: %+v %v", st, err)
	}
	if !strings.Contains(console.String(), "vmtest: job quits failed: it exited with status 3") {
		t.Errorf("console:\n%s", console.String())
	}
}

func TestJobsDeclarationErrors(t *testing.T) {
	s, _, _ := supervise(t)
	for _, tc := range []struct {
		jobs []wire.Job
		want string
	}{
		{[]wire.Job{{Name: "a", Start: sh("x"), After: []string{"b"}}, {Name: "b", Start: sh("x"), After: []string{"c"}}, {Name: "c", Start: sh("x"), After: []string{"a"}}},
			"jobs: dependency cycle: a -> b -> c -> a (each job starts after the next)"},
		{[]wire.Job{{Name: "a", Start: sh("x"), After: []string{"a"}}}, "dependency cycle: a -> a"},
		{[]wire.Job{{Name: "a", Start: sh("x"), After: []string{"db"}}}, "job a: after: no job db"},
		{[]wire.Job{{Name: "a"}}, "job a: a simple job has exactly one start command, got 0"},
		{[]wire.Job{{Name: "a", Start: sh("x"), Restart: "sometimes"}}, `job a: restart "sometimes": want no, on-failure or always`},
		{[]wire.Job{{Name: "a", Start: sh("x"), Ready: []wire.Ready{{Log: "("}}}}, "job a: ready log pattern: error parsing regexp"},
		{[]wire.Job{{Name: "a", Start: sh("x")}, {Name: "a", Start: sh("y")}}, "job a is declared twice"},
	} {
		if err := s.Define(tc.jobs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestJobRestartPolicy(t *testing.T) {
	s, _, events := supervise(t)
	dir := t.TempDir()
	err := s.Define([]wire.Job{
		// Fails twice, then stays up.
		{Name: "flaky", Start: sh("n=$(cat " + dir + "/n 2>/dev/null || echo 0); echo $((n+1)) > " + dir + "/n; [ $n -ge 2 ] || exit 1; exec sleep 60"),
			Restart: wire.RestartOnFailure, Autostart: true},
		{Name: "hopeless", Start: sh("echo no luck; exit 2"), Restart: wire.RestartAlways, Autostart: true},
		{Name: "clean", Start: sh("exit 0"), Restart: wire.RestartOnFailure, Autostart: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A job that is restarting is waited for, not failed at once.
	st, err := waitJob(t, s, "flaky", 20*time.Second)
	if err != nil || st.Starts != 3 {
		t.Errorf("flaky: %+v %v, want running after 3 starts", st, err)
	}
	st, err = waitJob(t, s, "hopeless", 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "job hopeless failed: it exited with status 2 before it was ready; started 5 times within 10s, not restarted again") || st.Starts != 5 {
		t.Errorf("hopeless: %+v %v", st, err)
	}
	st, err = waitJob(t, s, "clean", 20*time.Second)
	if err == nil || st.State != wire.JobExited || !strings.Contains(err.Error(), "job clean exited (exit status 0) and is not restarted") {
		t.Errorf("clean: %+v %v", st, err)
	}
	restarting := 0
	for _, ev := range events() {
		if ev.Job == "flaky" && ev.State == wire.JobRestarting {
			restarting++
		}
	}
	if restarting != 2 {
		t.Errorf("%d restarting events for flaky, want 2: %+v", restarting, events())
	}
}

func TestJobTypes(t *testing.T) {
	s, _, _ := supervise(t)
	dir := t.TempDir()
	notify := `import os, socket, time
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
s.sendto(b"READY=1", "\0" + addr[1:] if addr.startswith("@") else addr)
print("notified", flush=True)
time.sleep(60)`
	os.WriteFile(dir+"/env", []byte("# comment\nGREETING=\"hello  world\"\nexport OTHER=1\n"), 0o644)
	err := s.Define([]wire.Job{
		{Name: "notify", Type: wire.JobNotify, Start: []wire.JobCommand{{Argv: []string{"python3", "-c", notify}}}, Autostart: true},
		{Name: "forking", Type: wire.JobForking, PIDFile: dir + "/daemon.pid", Autostart: true,
			Start: sh("sleep 60 > /dev/null 2>&1 & echo $! > " + dir + "/daemon.pid")},
		{Name: "setup", Type: wire.JobOneshot, Autostart: true,
			Pre:   sh("echo pre >> " + dir + "/oneshot"),
			Start: append(sh("echo one >> "+dir+"/oneshot"), sh("echo two >> "+dir+"/oneshot")...),
			Post:  sh("echo post >> " + dir + "/oneshot"),
			Stop:  sh("echo stop >> " + dir + "/oneshot")},
		{Name: "task", Start: sh("sleep 0.2"), Ready: []wire.Ready{{Exit: true}}, Autostart: true},
		{Name: "expand", Type: wire.JobOneshot, Autostart: true, Env: []string{"OPTS=-n  x"}, EnvFiles: []string{dir + "/env", "-/no/such/env"},
			Start: []wire.JobCommand{{Argv: []string{"/bin/sh", "-c", "echo \"$# $*\" > " + dir + "/args", "sh", "$OPTS", "${GREETING}", "a$${X}"}, Expand: true}}},
		{Name: "dirs", Start: sh("test -d " + dir + "/run/x && exec sleep 60"), Autostart: true,
			Dirs: []wire.JobDir{{Path: dir + "/run/x", Mode: 0o750, Remove: true}}, Ready: []wire.Ready{{Command: "test -d " + dir + "/run/x"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notify", "forking", "setup", "task", "expand", "dirs"} {
		st, err := waitJob(t, s, name, 20*time.Second)
		if err != nil {
			t.Fatalf("%s: %v (%+v)", name, err, st)
		}
		switch name {
		case "notify":
			if st.State != wire.JobRunning {
				t.Errorf("notify: %+v", st)
			}
		case "forking":
			pid, _ := strconv.Atoi(strings.TrimSpace(string(must(os.ReadFile(dir + "/daemon.pid")))))
			if st.State != wire.JobRunning || st.PID != pid {
				t.Errorf("forking: %+v, want pid %d", st, pid)
			}
		case "setup", "task", "expand":
			if st.State != wire.JobDone {
				t.Errorf("%s: %+v, want done", name, st)
			}
		}
	}
	if b, _ := os.ReadFile(dir + "/args"); string(b) != "4 -n x hello  world a${X}\n" {
		t.Errorf("expanded arguments: %q", b)
	}
	pid := must(s.Status("forking"))[0].PID
	if err := s.Stop(context.Background(), "forking"); err != nil || processAlive(pid) {
		t.Errorf("the forking job's daemon %d survived its stop (%v)", pid, err)
	}
	if err := s.Stop(context.Background(), "dirs"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/run/x"); !os.IsNotExist(err) {
		t.Errorf("the runtime directory is left after the stop: %v", err)
	}
	if err := s.Stop(context.Background(), "setup"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/oneshot"); string(b) != "pre\none\ntwo\npost\nstop\n" {
		t.Errorf("one-shot commands ran as %q", b)
	}
}

// TestJobOps drives the job operations over the wire.
func TestJobOps(t *testing.T) {
	hostEnd, guestEnd := net.Pipe()
	ctx, stop := context.WithCancel(context.Background())
	reaper := NewReaper()
	reaperDone := make(chan struct{})
	go func() { reaper.Run(ctx); close(reaperDone) }()
	s := NewServer(guestEnd, guestEnd, reaper)
	s.Jobs.Console = &syncBuffer{}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	events := make(chan wire.Event, 10)
	c := wire.NewClient(hostEnd, func(ev wire.Event) { events <- ev })
	t.Cleanup(func() {
		c.Close()
		guestEnd.Close()
		<-served
		s.Jobs.Close()
		stop()
		<-reaperDone
	})
	res, _, _ := call(t, c, wire.Request{Op: wire.OpJobs, Jobs: []wire.Job{
		{Name: "up", Start: sh("echo hello; exec sleep 60"), Autostart: true, Ready: []wire.Ready{{Log: "hello"}}},
		{Name: "later", Start: sh("exec sleep 60")},
	}}, nil)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobWait, Job: "up.service", TimeoutMS: 20000}, nil)
	if res.Error != "" || len(res.Jobs) != 1 || res.Jobs[0].State != wire.JobRunning || !slices.Contains(res.Jobs[0].Output, "hello") {
		t.Fatalf("job_wait: %+v", res)
	}
	if ev := <-events; ev.Name != "job" || ev.Job != "up" || ev.State != wire.JobRunning {
		t.Errorf("event %+v", ev)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobWait, Job: "later", TimeoutMS: 20000}, nil)
	if res.Error != "job later was never started" {
		t.Errorf("waiting for a job not started: %+v", res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobStart, Job: "later"}, nil)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobWait, Job: "later", TimeoutMS: 20000}, nil)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobStop, Job: "up"}, nil)
	if res.Error != "" || res.Jobs[0].State != wire.JobStopped {
		t.Fatalf("job_stop: %+v", res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobStatus}, nil)
	if len(res.Jobs) != 2 || res.Jobs[0].State != wire.JobStopped || res.Jobs[1].State != wire.JobRunning {
		t.Errorf("job_status: %+v", res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobStart, Job: "upp"}, nil)
	if res.Error != "no job upp (jobs: up, later)" {
		t.Errorf("unknown job: %+v", res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpJobWait, Job: "up", TimeoutMS: 100}, nil)
	if res.Error != "job up was stopped" {
		t.Errorf("waiting for a stopped job: %+v", res)
	}
}

func TestParseEnvFile(t *testing.T) {
	got, err := parseEnvFile([]byte("# c\n; c\n\nA=1\nexport B = two words \nC=\"q \\\"x\\\"\"\nD='single $x'\nE=con\\\ntinued\nbad line\n"))
	want := []string{"A=1", "B=two words", `C=q "x"`, "D=single $x", "E=continued"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

func TestExpandArgv(t *testing.T) {
	env := []string{"A=one two", "B=", "C=x"}
	got := expandArgv([]string{"/bin/p", "$A", "${A}", "$B", "pre$C.post", "$$A", "${MISSING}z", "$"}, env)
	want := []string{"/bin/p", "one", "two", "one two", "pre" + "x.post", "$A", "z", "$"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
