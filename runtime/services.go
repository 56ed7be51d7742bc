package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/lang/unitfile"
	"github.com/vmtest/vmtest/vm/wire"
)

// ServiceName returns the job name of a service: its unit name without
// ".service".
func ServiceName(unit string) string { return strings.TrimSuffix(unit, ".service") }

// machineFS is the file system a machine's units are read from: the
// host root the guests see, under the files of the machine's files key.
type machineFS struct {
	root  string
	files []File
}

var _ unitfile.FS = machineFS{}

func (m machineFS) own(name string) (File, bool) {
	for _, f := range m.files {
		if f.Path == name && !f.Append {
			return f, true
		}
	}
	return File{}, false
}

func (m machineFS) ReadFile(name string) ([]byte, error) {
	if f, ok := m.own(name); ok {
		switch f.Kind {
		case "":
			return f.Data, nil
		case wire.FileSymlink:
			target := string(f.Data)
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			return m.ReadFile(target)
		}
		return nil, fmt.Errorf("%s is a directory", name)
	}
	return os.ReadFile(filepath.Join(m.root, name))
}

func (m machineFS) ReadDir(name string) ([]string, error) {
	var names []string
	entries, err := os.ReadDir(filepath.Join(m.root, name))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, f := range m.files {
		if path.Dir(f.Path) == name && !slices.Contains(names, path.Base(f.Path)) {
			names = append(names, path.Base(f.Path))
		}
	}
	if len(names) == 0 && err != nil {
		return nil, err
	}
	return names, nil
}

func (m machineFS) Readlink(name string) (string, error) {
	if f, ok := m.own(name); ok {
		if f.Kind == wire.FileSymlink {
			return string(f.Data), nil
		}
		return "", errors.New("not a link")
	}
	target, err := os.Readlink(filepath.Join(m.root, name))
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return target, err
}

// serviceJobs reads the units of the machine's services (from root, the
// host root the guests see, and the machine's files) and returns them as
// jobs, ordered among themselves and the machine's jobs by their After=
// and Before= lines.
func (s *Spec) serviceJobs(ctx context.Context, root string) ([]wire.Job, error) {
	if len(s.Services) == 0 {
		return nil, nil
	}
	names := map[string]bool{}
	for _, j := range s.Jobs {
		names[j.Name] = true
	}
	for _, svc := range s.Services {
		names[ServiceName(svc)] = true
	}
	fsys := machineFS{root: root, files: s.Files}
	var jobs []wire.Job
	before := map[string][]string{} // job name to the names it must start before
	for _, svc := range s.Services {
		name := ServiceName(svc)
		u, err := unitfile.Load(ctx, fsys, name)
		if err != nil {
			if errors.Is(err, unitfile.ErrNotFound) {
				err = fmt.Errorf("%w (is the package that has it in packages, and installed on the host?)", err)
			}
			return nil, fmt.Errorf("machine %s: service %s: %w", s.Name, name, err)
		}
		unit, err := unitfile.Interpret(u, unitfile.Context{Hostname: s.Name})
		if err != nil {
			return nil, fmt.Errorf("machine %s: service %s: %w", s.Name, name, err)
		}
		j := serviceJob(name, unit)
		for _, a := range unit.After {
			if n := ServiceName(a); names[n] && n != name && !slices.Contains(j.After, n) {
				j.After = append(j.After, n)
			}
		}
		for _, b := range unit.Before {
			if n := ServiceName(b); names[n] && n != name {
				before[n] = append(before[n], name)
			}
		}
		jobs = append(jobs, j)
	}
	for i := range jobs {
		for _, a := range before[jobs[i].Name] {
			if !slices.Contains(jobs[i].After, a) {
				jobs[i].After = append(jobs[i].After, a)
			}
		}
	}
	// A job listed in a service's Before= starts after the service.
	for i := range s.Jobs {
		for _, a := range before[s.Jobs[i].Name] {
			if !slices.Contains(s.Jobs[i].After, a) {
				s.Jobs[i].After = append(slices.Clone(s.Jobs[i].After), a)
			}
		}
	}
	return jobs, nil
}

// serviceJob is the job that runs a service.
func serviceJob(name string, u *unitfile.Service) wire.Job {
	cmds := func(cs []unitfile.Command) []wire.JobCommand {
		var out []wire.JobCommand
		for _, c := range cs {
			out = append(out, wire.JobCommand{
				Argv: c.Argv, Expand: !c.NoExpand, IgnoreFailure: c.IgnoreFailure, Privileged: c.Privileged, Arg0: c.Arg0,
			})
		}
		return out
	}
	j := wire.Job{
		Name:        name,
		Description: u.Description,
		Type:        u.Type,
		Pre:         cmds(u.ExecStartPre),
		Start:       cmds(u.ExecStart),
		Post:        cmds(u.ExecStartPost),
		Stop:        cmds(u.ExecStop),
		StopPost:    cmds(u.ExecStopPost),
		User:        u.User,
		Group:       u.Group,
		Env:         u.Environment,
		EnvFiles:    u.EnvironmentFiles,
		Dir:         u.WorkingDirectory,
		PIDFile:     u.PIDFile,
		Restart:     u.Restart,
		StopSignal:  u.KillSignal,
		Stdout:      u.StandardOutput,
		Stderr:      u.StandardError,
		Autostart:   true,
	}
	if j.Stderr == "" {
		j.Stderr = j.Stdout // StandardError= inherits StandardOutput=
	}
	if u.TimeoutStop > 0 {
		j.StopTimeoutMS = u.TimeoutStop.Milliseconds()
	}
	for _, d := range u.Directories {
		j.Dirs = append(j.Dirs, wire.JobDir{Path: d.Path, Mode: d.Mode, Remove: d.Remove})
	}
	for _, c := range u.Conditions {
		j.Conditions = append(j.Conditions, wire.Condition{Kind: c.Kind, Path: c.Path, Negate: c.Negate, Assert: c.Assert, Directive: c.Directive})
	}
	return j
}
