package wire

import (
	"fmt"
	"slices"
	"strings"
)

// Job control: the host declares a machine's jobs once per boot (OpJobs),
// after configure; the agent starts them in the order of their After
// lists and supervises them until the machine powers off, when it stops
// them in reverse order before anything else is killed.
const (
	// OpJobs declares the machine's jobs (Request.Jobs) and starts those
	// with Start set, each once the jobs of its After list are ready. It
	// answers at once; an invalid declaration (an unknown After name, a
	// cycle) is an error and starts nothing.
	OpJobs = "jobs"
	// OpJobStart starts the job Request.Job unless it is already
	// starting or running; it answers once the start is under way.
	OpJobStart = "job_start"
	// OpJobStop stops the job Request.Job (its ExecStop commands, then
	// SIGTERM to all its processes, SIGKILL after its grace period) and
	// answers once none of its processes is left.
	OpJobStop = "job_stop"
	// OpJobStatus answers with the status of Request.Job, or of every job
	// when Job is empty, in Result.Jobs.
	OpJobStatus = "job_status"
	// OpJobWait waits until the job Request.Job is ready (JobRunning, or
	// JobDone for a one-shot job), until the host cancels it. It fails
	// at once when the job has failed, exited, was stopped or skipped;
	// Result.Jobs holds the job's status either way.
	OpJobWait = "job_wait"
)

// Job types, after systemd's Type=.
const (
	// JobSimple is ready once its process has started (and its Ready
	// conditions hold).
	JobSimple = "simple"
	// JobForking is ready once its start command has exited with status
	// 0, leaving a daemon behind (whose pid PIDFile names, if set).
	JobForking = "forking"
	// JobNotify is ready once its process sends READY=1 to the socket
	// named by $NOTIFY_SOCKET (sd_notify).
	JobNotify = "notify"
	// JobOneshot runs its Start commands one after the other; it is done
	// (ready) once all have exited with status 0.
	JobOneshot = "oneshot"
)

// Restart policies.
const (
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// Job states, as JobStatus.State reports them.
const (
	JobInactive   = "inactive"   // declared, not started (yet)
	JobWaiting    = "waiting"    // for the jobs of its After list to be ready
	JobStarting   = "starting"   // running, not ready yet
	JobRunning    = "running"    // running and ready
	JobDone       = "done"       // a one-shot job that succeeded
	JobRestarting = "restarting" // exited; starting again after a pause
	JobStopping   = "stopping"   // being stopped
	JobStopped    = "stopped"    // stopped on request (or at power off)
	JobExited     = "exited"     // its process exited with status 0; not restarted
	JobFailed     = "failed"     // could not start, or exited with an error; not restarted
	JobSkipped    = "skipped"    // a Condition did not hold
)

// OrderJobs checks the names and After lists of jobs (every name given
// once and not empty, every After name declared, no cycle) and returns
// the jobs' indices in an order where each comes after the jobs it
// starts after (otherwise in declaration order). A cycle is reported as
// its chain: "dependency cycle: a -> b -> a".
func OrderJobs(jobs []Job) ([]int, error) {
	index := map[string]int{}
	for i, j := range jobs {
		if j.Name == "" || strings.ContainsAny(j.Name, "/\x00") {
			return nil, fmt.Errorf("job name %q: want a name without /", j.Name)
		}
		if _, dup := index[j.Name]; dup {
			return nil, fmt.Errorf("job %s is declared twice", j.Name)
		}
		index[j.Name] = i
	}
	for _, j := range jobs {
		for _, a := range j.After {
			if _, ok := index[a]; !ok {
				return nil, fmt.Errorf("job %s: after: no job %s", j.Name, a)
			}
		}
	}
	const (
		unseen = iota
		visiting
		visited
	)
	mark := make([]int, len(jobs))
	var order, path []int
	var visit func(i int) error
	visit = func(i int) error {
		switch mark[i] {
		case visited:
			return nil
		case visiting:
			start := slices.Index(path, i)
			var chain []string
			for _, p := range path[start:] {
				chain = append(chain, jobs[p].Name)
			}
			return fmt.Errorf("dependency cycle: %s -> %s (each job starts after the next)", strings.Join(chain, " -> "), jobs[i].Name)
		}
		mark[i] = visiting
		path = append(path, i)
		for _, a := range jobs[i].After {
			if err := visit(index[a]); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		mark[i] = visited
		order = append(order, i)
		return nil
	}
	for i := range jobs {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Job is one supervised job: a program the agent keeps running.
type Job struct {
	Name string `json:"name"`
	// Description names the job in messages (a unit's Description=).
	Description string `json:"description,omitempty"`
	// Type is one of the Job* types; "" means JobSimple.
	Type string `json:"type,omitempty"`
	// Start is the job's command: exactly one, except for a one-shot job,
	// which may have any number (run in order). Pre run before it, Post
	// after it is ready (one after the other; a failure fails the job
	// unless the command ignores it), Stop when the job is stopped,
	// before its processes are signalled, and StopPost after they are
	// gone.
	Pre      []JobCommand `json:"pre,omitempty"`
	Start    []JobCommand `json:"start,omitempty"`
	Post     []JobCommand `json:"post,omitempty"`
	Stop     []JobCommand `json:"stop,omitempty"`
	StopPost []JobCommand `json:"stop_post,omitempty"`

	// User and Group run the job's commands as that user (name or uid;
	// root by default) and primary group (default the user's).
	User  string `json:"user,omitempty"`
	Group string `json:"group,omitempty"`
	// Env is KEY=VALUE added to the base environment; EnvFiles are read
	// at each start (a "-" prefix: a missing file is no error), their
	// variables added after Env's.
	Env      []string `json:"env,omitempty"`
	EnvFiles []string `json:"env_files,omitempty"`
	// Dir is the working directory (default: the user's home, else /).
	Dir string `json:"dir,omitempty"`
	// Dirs are made before each start, owned by User and Group, and those
	// with Remove set are removed after the job stops (RuntimeDirectory=).
	Dirs []JobDir `json:"dirs,omitempty"`
	// PIDFile names the main process of a forking job.
	PIDFile string `json:"pid_file,omitempty"`
	// Ready lists more conditions for readiness, all of which must hold
	// once the type's own readiness is reached.
	Ready []Ready `json:"ready,omitempty"`
	// Restart is a Restart* policy ("" means RestartNo).
	Restart string `json:"restart,omitempty"`
	// StopSignal is sent first when the job stops ("" means SIGTERM);
	// StopTimeoutMS is the grace period before SIGKILL (0: 5 s).
	StopSignal    string `json:"stop_signal,omitempty"`
	StopTimeoutMS int64  `json:"stop_timeout_ms,omitempty"`
	// Stdout and Stderr are files the job's output is appended to; ""
	// means the console, each line prefixed with the job's name.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// After names jobs that must be ready before this one starts; if one
	// of them fails, this one fails without starting.
	After []string `json:"after,omitempty"`
	// Conditions are checked before each start: a Condition that does not
	// hold skips the job, an Assert fails it.
	Conditions []Condition `json:"conditions,omitempty"`
	// Autostart: the job starts when declared (at boot), not only on
	// OpJobStart.
	Autostart bool `json:"autostart,omitempty"`
}

// JobCommand is one command of a job.
type JobCommand struct {
	// Argv is the command; with Shell set, Argv[0] is run by /bin/sh -c.
	Argv  []string `json:"argv"`
	Shell bool     `json:"shell,omitempty"`
	// Expand: $NAME and ${NAME} in Argv are replaced from the job's
	// environment as systemd does ($$ is a dollar sign; a word that is
	// exactly $NAME becomes the value's whitespace-separated words).
	Expand bool `json:"expand,omitempty"`
	// IgnoreFailure: a non-zero exit status does not fail the job ("-").
	IgnoreFailure bool `json:"ignore_failure,omitempty"`
	// Privileged runs the command as root whatever the job's User ("+").
	Privileged bool `json:"privileged,omitempty"`
	// Arg0 is the argv[0] the program sees, when not Argv[0] ("@").
	Arg0 string `json:"arg0,omitempty"`
}

// JobDir is a directory a job needs.
type JobDir struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode"`
	Remove bool   `json:"remove,omitempty"`
}

// Condition is a check on the guest's files made before a job starts.
type Condition struct {
	// Kind is "path_exists", "path_is_directory", "file_not_empty",
	// "directory_not_empty" or "file_is_executable".
	Kind   string `json:"kind"`
	Path   string `json:"path"`
	Negate bool   `json:"negate,omitempty"`
	// Assert makes a condition that does not hold fail the job rather
	// than skip it.
	Assert bool `json:"assert,omitempty"`
	// Directive is how the unit file said it, for messages.
	Directive string `json:"directive,omitempty"`
}

// Ready is one readiness condition; exactly one field is set.
type Ready struct {
	// Port: a TCP socket listens on this port (any address).
	Port int `json:"port,omitempty"`
	// File exists.
	File string `json:"file,omitempty"`
	// Log is a regular expression (Go RE2) that a line of the job's
	// output (stdout or stderr) matches, since this start.
	Log string `json:"log,omitempty"`
	// Command (run by /bin/sh -c as root) exits with status 0; it is tried
	// every 0.2 s.
	Command string `json:"command,omitempty"`
	// Exit: the job's process exited with status 0 (a one-shot task run
	// as a simple job).
	Exit bool `json:"exit,omitempty"`
}

// JobStatus is what the agent knows of a job.
type JobStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// PID of the main process while there is one.
	PID int `json:"pid,omitempty"`
	// Starts counts how often the job was started since the boot
	// (restarts included).
	Starts int `json:"starts,omitempty"`
	// Exit is how its main process last ended: "exit status 3",
	// "killed by SIGSEGV"; "" if it has not.
	Exit string `json:"exit,omitempty"`
	// Error says why the job failed or was skipped.
	Error string `json:"error,omitempty"`
	// Output is the job's last lines of output (stdout and stderr
	// interleaved as they came), up to 50.
	Output []string `json:"output,omitempty"`
}
