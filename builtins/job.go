package builtins

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// Job is the value job() returns: a declaration of a program a machine's
// agent keeps running, put in a machine's jobs = {"name": job(...)}.
type Job struct {
	args starlark.Tuple   // as given, for String
	kw   []starlark.Tuple // as given, for String
	spec wire.Job         // without Name: the jobs dict gives it
	attr map[string]starlark.Value
}

var (
	_ starlark.Value    = (*Job)(nil)
	_ starlark.HasAttrs = (*Job)(nil)
)

// jobParams are job()'s parameters, in order.
var jobParams = []string{"exec", "user", "env", "cwd", "after", "ready", "restart", "stdout", "stderr"}

func (j *Job) String() string {
	var parts []string
	for _, a := range j.args {
		parts = append(parts, a.String())
	}
	for _, kv := range j.kw {
		parts = append(parts, fmt.Sprintf("%s = %s", kv[0].(starlark.String).GoString(), kv[1]))
	}
	return "job(" + strings.Join(parts, ", ") + ")"
}
func (j *Job) Type() string          { return "job" }
func (j *Job) Freeze()               {}
func (j *Job) Truth() starlark.Bool  { return starlark.True }
func (j *Job) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: job") }
func (j *Job) AttrNames() []string   { return slices.Sorted(slices.Values(jobParams)) }

// Attr returns an argument of job() as given, or its default.
func (j *Job) Attr(name string) (starlark.Value, error) {
	if v, ok := j.attr[name]; ok {
		return v, nil
	}
	return nil, nil // Starlark reports the missing attribute with a suggestion
}

// jobName checks the name of a job (a key of jobs).
var jobName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,99}$`)

// job(exec, user=None, env={}, cwd=None, after=[], ready=None,
// restart="no", stdout=None, stderr=None) declares a job.
func (s *Script) job(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		cmd                       command
		user, cwd, stdout, stderr starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
		env                       starlark.Value = starlark.NewDict(0)
		after                     starlark.Value = starlark.NewList(nil)
		ready                     starlark.Value = starlark.None
		restart                                  = wire.RestartNo
	)
	if err := unpackArgs(b.Name(), args, kwargs, "exec", &cmd, "user?", &user, "env?", &env, "cwd?", &cwd,
		"after?", &after, "ready?", &ready, "restart?", &restart, "stdout?", &stdout, "stderr?", &stderr); err != nil {
		return nil, err
	}
	j := &Job{args: args, kw: kwargs, spec: wire.Job{Autostart: true}}
	bad := func(param string, format string, a ...any) error {
		return fmt.Errorf("%s: for parameter %s: %s", b.Name(), param, fmt.Sprintf(format, a...))
	}
	if cmd.Shell != "" {
		j.spec.Start = []wire.JobCommand{{Argv: []string{cmd.Shell}, Shell: true}}
	} else {
		j.spec.Start = []wire.JobCommand{{Argv: cmd.Argv}}
	}
	var err error
	if j.spec.User, err = optString(user); err != nil {
		return nil, bad("user", "%v", err)
	}
	var scratch runtime.Spec
	if err := setEnv(&scratch, env); err != nil {
		return nil, bad("env", "%v", err)
	}
	j.spec.Env = scratch.Env
	if j.spec.Dir, err = optPath(cwd); err != nil {
		return nil, bad("cwd", "%v", err)
	}
	if j.spec.After, err = stringList(after); err != nil {
		return nil, bad("after", "%v", err)
	}
	for _, a := range j.spec.After {
		if !jobName.MatchString(strings.TrimSuffix(a, ".service")) {
			return nil, bad("after", "%q is not a job name", a)
		}
	}
	for i, a := range j.spec.After {
		j.spec.After[i] = strings.TrimSuffix(a, ".service")
	}
	if j.spec.Ready, err = readyConditions(ready); err != nil {
		return nil, bad("ready", "%v", err)
	}
	switch restart {
	case wire.RestartNo, wire.RestartOnFailure, wire.RestartAlways:
		j.spec.Restart = restart
	default:
		return nil, bad("restart", "want \"no\", \"on-failure\" or \"always\", got %q", restart)
	}
	if j.spec.Stdout, err = optPath(stdout); err != nil {
		return nil, bad("stdout", "%v", err)
	}
	if j.spec.Stderr, err = optPath(stderr); err != nil {
		return nil, bad("stderr", "%v", err)
	}
	var execValue starlark.Value
	if len(args) > 0 {
		execValue = args[0]
	}
	for _, kv := range kwargs {
		if kv[0].(starlark.String) == "exec" {
			execValue = kv[1]
		}
	}
	j.attr = map[string]starlark.Value{
		"exec": execValue, "user": user, "env": env, "cwd": cwd, "after": after,
		"ready": ready, "restart": starlark.String(restart), "stdout": stdout, "stderr": stderr,
	}
	for _, v := range j.attr {
		v.Freeze()
	}
	return j, nil
}

// optString is a string argument that may be None ("").
func optString(v starlark.Value) (string, error) {
	if v == starlark.None {
		return "", nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return "", fmt.Errorf("want a string or None, got %s", v.Type())
	}
	return s, nil
}

// optPath is an absolute guest path argument that may be None ("").
func optPath(v starlark.Value) (string, error) {
	p, err := optString(v)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", nil
	}
	return p, runtime.CheckGuestPath(p)
}

// readyKeys are the keys of a ready= dict.
var readyKeys = []string{"port", "file", "log", "command", "exit"}

// readyConditions reads ready=: None, a port number, or a dict of
// conditions that must all hold.
func readyConditions(v starlark.Value) ([]wire.Ready, error) {
	if v == starlark.None {
		return nil, nil
	}
	if _, ok := v.(starlark.Int); ok {
		var p port
		if err := p.Unpack(v); err != nil {
			return nil, err
		}
		return []wire.Ready{{Port: int(p)}}, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf(`want a port number or a dict such as {"port": 80}, {"file": "/run/x.pid"}, {"log": "regexp"}, {"command": "cmd"} or {"exit": True}, got %s`, v.Type())
	}
	items, err := dictItems(d, "readiness conditions")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("an empty dict: want at least one of %s", strings.Join(readyKeys, ", "))
	}
	var rs []wire.Ready
	for _, it := range items {
		k, val := string(it[0].(starlark.String)), it[1]
		var r wire.Ready
		switch k {
		case "port":
			var p port
			if err := p.Unpack(val); err != nil {
				return nil, fmt.Errorf("port: %w", err)
			}
			r.Port = int(p)
		case "file":
			p, err := optPath(val)
			if err == nil && p == "" {
				err = fmt.Errorf("want an absolute guest path, got %s", val)
			}
			if err != nil {
				return nil, fmt.Errorf("file: %w", err)
			}
			r.File = p
		case "log":
			re, ok := starlark.AsString(val)
			if !ok {
				return nil, fmt.Errorf("log: want a regular expression, got %s", val.Type())
			}
			if _, err := regexp.Compile(re); err != nil {
				return nil, fmt.Errorf("log: %w", err)
			}
			r.Log = re
		case "command":
			c, ok := starlark.AsString(val)
			if !ok || c == "" {
				return nil, fmt.Errorf("command: want a shell command, got %s", val.Type())
			}
			r.Command = c
		case "exit":
			if val != starlark.True {
				return nil, fmt.Errorf("exit: want True, got %s", val)
			}
			r.Exit = true
		default:
			return nil, unexpectedKey("", k, readyKeys...)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// setJobs reads jobs = {"name": job(...)}. The after lists are checked
// here only among these jobs; names of services are checked with the
// whole configuration (finishJobs).
func setJobs(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "job names to job() values")
	if err != nil {
		return err
	}
	s.Jobs = nil
	names := map[string]bool{}
	for _, it := range items {
		names[string(it[0].(starlark.String))] = true
	}
	var local []wire.Job
	for _, it := range items {
		name := string(it[0].(starlark.String))
		j, ok := it[1].(*Job)
		if !ok {
			return fmt.Errorf("%s: want a job(...), got %s", name, it[1].Type())
		}
		if !jobName.MatchString(name) {
			return fmt.Errorf("%q is not a job name: letters, digits and _ . @ : -, starting with a letter or digit", name)
		}
		if strings.HasSuffix(name, ".service") {
			return fmt.Errorf("%q: a job name does not end in .service", name)
		}
		spec := j.spec
		spec.Name = name
		s.Jobs = append(s.Jobs, spec)
		l := spec
		l.After = slices.DeleteFunc(slices.Clone(spec.After), func(a string) bool { return !names[a] })
		local = append(local, l)
	}
	if _, err := wire.OrderJobs(local); err != nil {
		return err
	}
	return nil
}

// finishJobs completes the jobs of a whole configuration (the machine's
// env goes into each) and checks them: every after name a job or service
// of the machine, no cycle.
func finishJobs(spec *runtime.Spec) error {
	// The machine's env is every job's too, under the job's own.
	for i := range spec.Jobs {
		spec.Jobs[i].Env = append(slices.Clone(spec.Env), spec.Jobs[i].Env...)
	}
	var names []string
	for _, j := range spec.Jobs {
		names = append(names, j.Name)
	}
	for _, svc := range spec.Services {
		name := runtime.ServiceName(svc)
		if slices.Contains(names, name) {
			return fmt.Errorf("%s is both a job and a service; rename the job", name)
		}
		names = append(names, name)
	}
	if spec.X11 {
		if slices.Contains(names, runtime.X11Job) {
			return fmt.Errorf("%s is the job of the X server of x11 = True; rename yours", runtime.X11Job)
		}
		names = append(names, runtime.X11Job)
	}
	sort.Strings(names)
	for _, j := range spec.Jobs {
		for _, a := range j.After {
			if !slices.Contains(names, a) {
				msg := fmt.Sprintf("jobs: %s: after: no job or service %s on this machine", j.Name, a)
				if s := lang.Suggest(a, names); s != "" {
					msg += " (did you mean " + s + "?)"
				}
				return fmt.Errorf("%s", msg)
			}
		}
	}
	// Cycles among the jobs; those through services are found when the
	// units are read (runtime.Network.Define).
	local := make([]wire.Job, len(spec.Jobs))
	for i, j := range spec.Jobs {
		local[i] = j
		local[i].After = slices.DeleteFunc(slices.Clone(j.After), func(a string) bool {
			return !slices.ContainsFunc(spec.Jobs, func(o wire.Job) bool { return o.Name == a })
		})
	}
	if _, err := wire.OrderJobs(local); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// setServices reads services = ["name", ...]: systemd service units
// (".service" optional) that the machine runs as jobs.
func setServices(s *runtime.Spec, v starlark.Value) error {
	names, err := stringList(v)
	if err != nil {
		return err
	}
	s.Services = nil
	for _, n := range names {
		if !jobName.MatchString(runtime.ServiceName(n)) || strings.HasSuffix(n, "@") || strings.HasSuffix(n, "@.service") {
			if strings.Contains(n, "@") {
				return fmt.Errorf("%q: a template unit needs an instance, such as %s@NAME", n, strings.TrimSuffix(runtime.ServiceName(n), "@"))
			}
			return fmt.Errorf("%q is not a service name", n)
		}
		if slices.Contains(s.Services, runtime.ServiceName(n)) {
			return fmt.Errorf("%s is listed twice", n)
		}
		s.Services = append(s.Services, runtime.ServiceName(n))
	}
	return nil
}
