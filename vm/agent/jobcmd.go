//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmtest/vmtest/vm/wire"
)

// jobIdentity is who a job's commands run as, where, and with what
// environment; it is worked out afresh at each start, so that the users
// and environment files it reads may change between starts.
type jobIdentity struct {
	cred     *syscall.Credential // nil: root
	uid, gid int
	env      []string
	dir      string
}

// resolveIdentity works out the identity of spec's commands.
func resolveIdentity(spec *wire.Job) (*jobIdentity, error) {
	cred, env, home, err := identity(spec.User)
	if err != nil {
		return nil, fmt.Errorf("user %q: no such user in the guest's /etc/passwd", spec.User)
	}
	id := &jobIdentity{cred: cred, env: env}
	if cred != nil {
		id.uid, id.gid = int(cred.Uid), int(cred.Gid)
	}
	if spec.Group != "" {
		gid, err := lookupGroup(spec.Group)
		if err != nil {
			return nil, err
		}
		id.gid = gid
		if id.cred == nil {
			id.cred = &syscall.Credential{}
		}
		id.cred.Gid = uint32(gid)
	}
	id.env = mergeEnv(id.env, spec.Env)
	for _, f := range spec.EnvFiles {
		optional := strings.HasPrefix(f, "-")
		f = strings.TrimPrefix(f, "-")
		b, err := os.ReadFile(f)
		if err != nil {
			if optional && os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("environment file %s: %w", f, unwrapPathError(err))
		}
		vars, err := parseEnvFile(b)
		if err != nil {
			return nil, fmt.Errorf("environment file %s: %w", f, err)
		}
		id.env = mergeEnv(id.env, vars)
	}
	id.dir = spec.Dir
	if id.dir == "" || id.dir == "~" {
		id.dir = "/"
		if st, err := os.Stat(home); err == nil && st.IsDir() {
			id.dir = home
		}
	} else if strings.HasPrefix(id.dir, "-") {
		id.dir = id.dir[1:]
		if _, err := os.Stat(id.dir); err != nil {
			id.dir = "/"
		}
	}
	return id, nil
}

// lookupGroup returns the gid of a group name or number.
func lookupGroup(spec string) (int, error) {
	if n, err := strconv.Atoi(spec); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(spec)
	if err != nil {
		return 0, fmt.Errorf("group %q: no such group in the guest's /etc/group", spec)
	}
	n, _ := strconv.Atoi(g.Gid)
	return n, nil
}

// parseEnvFile reads KEY=VALUE lines as systemd's EnvironmentFile= does:
// blank lines and lines starting with # or ; are skipped, "export " is
// allowed, a value may be quoted with single or double quotes (a
// backslash escapes the next character inside double quotes), and a line
// ending in a backslash continues on the next.
func parseEnvFile(b []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var pending string
	for sc.Scan() {
		line := pending + sc.Text()
		pending = ""
		if strings.HasSuffix(line, "\\") && !strings.HasSuffix(line, "\\\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !validEnvName(k) {
			continue // systemd ignores lines it cannot read
		}
		out = append(out, k+"="+unquoteEnv(strings.TrimSpace(v)))
	}
	return out, sc.Err()
}

func unquoteEnv(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if c != '_' && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// expandArgv replaces environment references in argv as systemd does for
// Exec lines: a word that is exactly $NAME becomes the value's words (none
// if it is empty or unset); ${NAME}, and $NAME inside a word, become the
// value as is; $$ is a dollar sign.
func expandArgv(argv []string, env []string) []string {
	lookup := func(k string) string { return envValue(env, k) }
	var out []string
	for _, w := range argv {
		if len(w) > 1 && w[0] == '$' && w[1] != '{' && w[1] != '$' && validEnvName(w[1:]) {
			out = append(out, strings.Fields(lookup(w[1:]))...)
			continue
		}
		out = append(out, expandWord(w, lookup))
	}
	return out
}

func expandWord(w string, lookup func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 == len(w) {
			b.WriteByte(w[i])
			continue
		}
		switch {
		case w[i+1] == '$':
			b.WriteByte('$')
			i++
		case w[i+1] == '{':
			end := strings.IndexByte(w[i:], '}')
			if end < 0 {
				b.WriteString(w[i:])
				return b.String()
			}
			b.WriteString(lookup(w[i+2 : i+end]))
			i += end
		default:
			j := i + 1
			for j < len(w) && (w[j] == '_' || w[j] >= 'A' && w[j] <= 'Z' || w[j] >= 'a' && w[j] <= 'z' || j > i+1 && w[j] >= '0' && w[j] <= '9') {
				j++
			}
			if j == i+1 {
				b.WriteByte('$')
				continue
			}
			b.WriteString(lookup(w[i+1 : j]))
			i = j - 1
		}
	}
	return b.String()
}

// commandArgv returns the program to run for c, the argv it sees, and the
// environment; extra is added to the identity's environment.
func commandArgv(c wire.JobCommand, id *jobIdentity, extra []string) (path string, argv, env []string, err error) {
	env = mergeEnv(id.env, extra)
	argv = c.Argv
	if c.Shell {
		if len(argv) != 1 {
			return "", nil, nil, fmt.Errorf("a shell command is one string, got %d", len(argv))
		}
		argv = []string{"/bin/sh", "-c", argv[0]}
	} else if c.Expand {
		argv = expandArgv(argv, env)
	}
	if len(argv) == 0 {
		return "", nil, nil, fmt.Errorf("an empty command")
	}
	path, err = lookPath(argv[0], envValue(env, "PATH"))
	if err != nil {
		return "", nil, nil, err
	}
	if c.Arg0 != "" {
		argv = append([]string{c.Arg0}, argv[1:]...)
	}
	return path, argv, env, nil
}

// describeCommand shows a command in messages.
func describeCommand(c wire.JobCommand) string {
	if c.Shell && len(c.Argv) == 1 {
		return c.Argv[0]
	}
	return strings.Join(c.Argv, " ")
}
