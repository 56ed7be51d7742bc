package unitfile

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Service is a service unit in the subset vmtest runs: what to run, as
// whom, with what environment, and how it becomes ready and stops.
type Service struct {
	Unit        *Unit
	Description string
	// Type is "simple" (also for exec and idle), "forking", "notify" (also
	// for notify-reload) or "oneshot".
	Type string
	// The Exec directives, specifiers expanded.
	ExecStartPre, ExecStart, ExecStartPost, ExecStop, ExecStopPost []Command
	User, Group                                                    string
	// Environment is KEY=VALUE; EnvironmentFiles are paths, "-" first
	// when a missing file is no error.
	Environment      []string
	EnvironmentFiles []string
	// WorkingDirectory is absolute, "-" first when optional, or "~" for
	// the user's home; "" is the default.
	WorkingDirectory string
	// Directories are those of RuntimeDirectory= (removed when the
	// service stops, unless preserved), StateDirectory=,
	// CacheDirectory=, LogsDirectory= and ConfigurationDirectory=.
	Directories []Directory
	PIDFile     string
	// Restart is "no", "on-failure" (also for on-abnormal, on-abort and
	// on-watchdog) or "always".
	Restart    string
	KillSignal string
	// TimeoutStop is the grace period before SIGKILL (0: the default).
	TimeoutStop time.Duration
	// StandardOutput and StandardError are "" (the console) or a file
	// to append to ("/dev/null" for null).
	StandardOutput, StandardError string
	// After and Before are the unit names of the ordering directives.
	After, Before []string
	Conditions    []Condition
}

// Directory is a directory a service needs made before it starts.
type Directory struct {
	Path   string
	Mode   uint32
	Remove bool // when the service stops
}

// Condition is a check made before the service starts.
type Condition struct {
	// Kind is path_exists, path_is_directory, file_not_empty,
	// directory_not_empty or file_is_executable.
	Kind   string
	Path   string
	Negate bool
	Assert bool // fail rather than skip
	// Directive is the line as written, for messages.
	Directive string
}

// Context is what specifiers need from the machine.
type Context struct {
	Hostname string
}

// MaxTimeoutStop bounds a service's TimeoutStopSec=: a machine's jobs
// stop within 20 s of a power off.
const MaxTimeoutStop = 15 * time.Second

// directive is how a directive of a section is handled: set applies it
// (nil: accepted and ignored, see ignored).
type directive func(s *Service, b *builder, a Assignment, v string) error

// builder holds what is gathered across assignments before the Service
// is complete.
type builder struct {
	dirs     map[string][]string // kind of directory to names
	dirModes map[string]uint32
	preserve bool
}

// Interpret reads a loaded unit as a service. A directive that changes
// what runs, or how, and that vmtest does not support is an error naming
// the directive, the unit and the line; directives without effect in a
// test guest (sandboxing, resource limits, logging, [Install]) are
// ignored (see Ignored).
func Interpret(u *Unit, ctx Context) (*Service, error) {
	if path.Ext(u.Name) != ".service" {
		return nil, fmt.Errorf("unit %s: vmtest runs .service units only", u.Name)
	}
	s := &Service{Unit: u, Type: "simple", Restart: "no"}
	b := &builder{dirs: map[string][]string{}, dirModes: map[string]uint32{}}
	for _, sec := range u.Sections {
		var table map[string]directive
		switch sec.Name {
		case "Unit":
			table = unitDirectives
		case "Service":
			table = serviceDirectives
		case "Install":
			continue // enabling units is not vmtest's business
		default:
			if len(sec.Assignments) > 0 {
				return nil, fmt.Errorf("%s: unit %s: section [%s] is not supported in a service (vmtest reads [Unit], [Service] and [Install])", sec.Assignments[0].Where(), u.Name, sec.Name)
			}
			continue
		}
		for _, a := range sec.Assignments {
			fail := func(format string, args ...any) error {
				head, rest := clip(a.Key + "=" + a.Value)
				return fmt.Errorf("%s: unit %s: %s%s: %s", a.Where(), u.Name, head, rest, fmt.Sprintf(format, args...))
			}
			d, known := table[a.Key]
			if !known {
				if strings.HasPrefix(a.Key, "Condition") || strings.HasPrefix(a.Key, "Assert") {
					return nil, fail("this condition is not supported (vmtest checks %s)", strings.Join(conditionNames(), ", "))
				}
				if sec.Name == "Service" && serviceIgnored[a.Key] != "" || sec.Name == "Unit" && unitIgnored[a.Key] != "" {
					continue
				}
				if why, ok := unsupported[a.Key]; ok {
					return nil, fail("not supported by vmtest: %s", why)
				}
				return nil, fail("unknown directive in [%s], or one vmtest does not support", sec.Name)
			}
			v, err := expandSpecifiers(a.Value, u, ctx)
			if err != nil {
				return nil, fail("%v", err)
			}
			if err := d(s, b, a, v); err != nil {
				return nil, fail("%v", err)
			}
		}
	}
	for _, kind := range []string{"Runtime", "State", "Cache", "Logs", "Configuration"} {
		mode, ok := b.dirModes[kind]
		if !ok {
			mode = 0o755
		}
		for _, name := range b.dirs[kind] {
			s.Directories = append(s.Directories, Directory{
				Path: path.Join(dirRoots[kind], name), Mode: mode, Remove: kind == "Runtime" && !b.preserve,
			})
		}
	}
	switch {
	case len(s.ExecStart) == 0 && s.Type != "oneshot":
		return nil, fmt.Errorf("%s: unit %s: no ExecStart= (a Type=%s service needs exactly one)", u.Path, u.Name, s.Type)
	case len(s.ExecStart) > 1 && s.Type != "oneshot":
		return nil, fmt.Errorf("%s: unit %s: %d ExecStart= commands; only a Type=oneshot service may have more than one", u.Path, u.Name, len(s.ExecStart))
	case len(s.ExecStart) == 0 && len(s.ExecStartPre) == 0 && len(s.ExecStartPost) == 0:
		return nil, fmt.Errorf("%s: unit %s: nothing to run (no ExecStart=)", u.Path, u.Name)
	}
	return s, nil
}

// dirRoots are where the directory directives' names are.
var dirRoots = map[string]string{"Runtime": "/run", "State": "/var/lib", "Cache": "/var/cache", "Logs": "/var/log", "Configuration": "/etc"}

// appendOrReset appends to a list, or empties it for an empty
// assignment (how a drop-in replaces a list).
func appendOrReset[T any](list *[]T, v string, items ...T) {
	if v == "" {
		*list = nil
		return
	}
	*list = append(*list, items...)
}

func execDirective(field func(s *Service) *[]Command) directive {
	return func(s *Service, _ *builder, _ Assignment, v string) error {
		cmds, err := parseCommands(v)
		if err != nil {
			return err
		}
		appendOrReset(field(s), v, cmds...)
		return nil
	}
}

// conditionKinds maps the supported condition directives (without their
// Condition or Assert prefix) to the agent's kinds.
var conditionKinds = map[string]string{
	"PathExists":        "path_exists",
	"PathIsDirectory":   "path_is_directory",
	"FileNotEmpty":      "file_not_empty",
	"DirectoryNotEmpty": "directory_not_empty",
	"FileIsExecutable":  "file_is_executable",
}

func conditionNames() []string {
	var n []string
	for k := range conditionKinds {
		n = append(n, "Condition"+k, "Assert"+k)
	}
	slices.Sort(n)
	return n
}

func conditionDirective(kind string, assert bool) directive {
	return func(s *Service, _ *builder, a Assignment, v string) error {
		if v == "" {
			s.Conditions = nil
			return nil
		}
		c := Condition{Kind: kind, Assert: assert, Directive: a.Key + "=" + a.Value}
		if strings.HasPrefix(v, "|") {
			return fmt.Errorf("triggering conditions (|) are not supported")
		}
		if strings.HasPrefix(v, "!") {
			c.Negate, v = true, v[1:]
		}
		if !path.IsAbs(v) {
			return fmt.Errorf("want an absolute path")
		}
		c.Path = v
		s.Conditions = append(s.Conditions, c)
		return nil
	}
}

var unitDirectives = func() map[string]directive {
	t := map[string]directive{
		"Description": func(s *Service, _ *builder, _ Assignment, v string) error { s.Description = v; return nil },
		"After":       unitList(func(s *Service) *[]string { return &s.After }),
		"Before":      unitList(func(s *Service) *[]string { return &s.Before }),
	}
	for k, kind := range conditionKinds {
		t["Condition"+k] = conditionDirective(kind, false)
		t["Assert"+k] = conditionDirective(kind, true)
	}
	return t
}()

func unitList(field func(s *Service) *[]string) directive {
	return func(s *Service, _ *builder, _ Assignment, v string) error {
		appendOrReset(field(s), v, strings.Fields(v)...)
		return nil
	}
}

var serviceTypes = map[string]string{
	"simple": "simple", "exec": "simple", "idle": "simple",
	"forking": "forking", "notify": "notify", "notify-reload": "notify", "oneshot": "oneshot",
}

var restartPolicies = map[string]string{
	"no": "no", "always": "always", "on-failure": "on-failure",
	"on-abnormal": "on-failure", "on-abort": "on-failure", "on-watchdog": "on-failure",
}

var serviceDirectives = map[string]directive{
	"Type": func(s *Service, _ *builder, _ Assignment, v string) error {
		t, ok := serviceTypes[v]
		if !ok {
			if v == "dbus" {
				return fmt.Errorf("Type=dbus needs a D-Bus system bus, which vmtest guests do not run")
			}
			return fmt.Errorf("want simple, exec, idle, forking, notify, notify-reload or oneshot")
		}
		s.Type = t
		return nil
	},
	"ExecStartPre":  execDirective(func(s *Service) *[]Command { return &s.ExecStartPre }),
	"ExecStart":     execDirective(func(s *Service) *[]Command { return &s.ExecStart }),
	"ExecStartPost": execDirective(func(s *Service) *[]Command { return &s.ExecStartPost }),
	"ExecStop":      execDirective(func(s *Service) *[]Command { return &s.ExecStop }),
	"ExecStopPost":  execDirective(func(s *Service) *[]Command { return &s.ExecStopPost }),
	"User":          func(s *Service, _ *builder, _ Assignment, v string) error { s.User = v; return nil },
	"Group":         func(s *Service, _ *builder, _ Assignment, v string) error { s.Group = v; return nil },
	"DynamicUser": func(s *Service, _ *builder, _ Assignment, v string) error {
		if b, err := parseBool(v); err != nil || b {
			return fmt.Errorf("dynamic users are not supported: declare the user in the machine's users and set User=")
		}
		return nil
	},
	"Environment": func(s *Service, _ *builder, _ Assignment, v string) error {
		words, err := splitWords(v)
		if err != nil {
			return err
		}
		for i, w := range words {
			w = strings.ReplaceAll(w, `\;`, ";")
			if k, _, ok := strings.Cut(w, "="); !ok || k == "" {
				return fmt.Errorf("%q is not KEY=VALUE", w)
			}
			words[i] = w
		}
		appendOrReset(&s.Environment, v, words...)
		return nil
	},
	"EnvironmentFile": func(s *Service, _ *builder, _ Assignment, v string) error {
		if p := strings.TrimPrefix(v, "-"); v != "" && !path.IsAbs(p) {
			return fmt.Errorf("want an absolute path")
		}
		appendOrReset(&s.EnvironmentFiles, v, v)
		return nil
	},
	"WorkingDirectory": func(s *Service, _ *builder, _ Assignment, v string) error {
		if p := strings.TrimPrefix(v, "-"); v != "" && p != "~" && !path.IsAbs(p) {
			return fmt.Errorf("want an absolute path or ~")
		}
		s.WorkingDirectory = v
		return nil
	},
	"RuntimeDirectory":           dirDirective("Runtime"),
	"StateDirectory":             dirDirective("State"),
	"CacheDirectory":             dirDirective("Cache"),
	"LogsDirectory":              dirDirective("Logs"),
	"ConfigurationDirectory":     dirDirective("Configuration"),
	"RuntimeDirectoryMode":       dirModeDirective("Runtime"),
	"StateDirectoryMode":         dirModeDirective("State"),
	"CacheDirectoryMode":         dirModeDirective("Cache"),
	"LogsDirectoryMode":          dirModeDirective("Logs"),
	"ConfigurationDirectoryMode": dirModeDirective("Configuration"),
	"RuntimeDirectoryPreserve": func(_ *Service, b *builder, _ Assignment, v string) error {
		if v == "restart" {
			b.preserve = false
			return nil
		}
		p, err := parseBool(v)
		b.preserve = p
		return err
	},
	"PIDFile": func(s *Service, _ *builder, _ Assignment, v string) error {
		if !path.IsAbs(v) {
			v = path.Join("/run", v)
		}
		s.PIDFile = v
		return nil
	},
	"RemainAfterExit": func(_ *Service, _ *builder, _ Assignment, v string) error {
		_, err := parseBool(v)
		return err
	},
	"Restart": func(s *Service, _ *builder, _ Assignment, v string) error {
		r, ok := restartPolicies[v]
		if !ok {
			return fmt.Errorf("want no, always, on-failure, on-abnormal, on-abort or on-watchdog")
		}
		s.Restart = r
		return nil
	},
	"KillSignal": func(s *Service, _ *builder, _ Assignment, v string) error {
		if !signalName.MatchString(v) {
			return fmt.Errorf("want a signal name such as SIGTERM")
		}
		s.KillSignal = v
		return nil
	},
	"TimeoutStopSec": timeoutStop,
	"TimeoutSec":     timeoutStop,
	"StandardOutput": output(func(s *Service) *string { return &s.StandardOutput }),
	"StandardError":  output(func(s *Service) *string { return &s.StandardError }),
	"StandardInput": func(_ *Service, _ *builder, _ Assignment, v string) error {
		if v != "null" && v != "" {
			return fmt.Errorf("only null is supported: a service's standard input is /dev/null")
		}
		return nil
	},
}

var signalName = regexp.MustCompile(`^(SIG)?[A-Z0-9+]+$`)

func dirDirective(kind string) directive {
	return func(_ *Service, b *builder, _ Assignment, v string) error {
		for _, name := range strings.Fields(v) {
			if path.IsAbs(name) || strings.Contains(name, "..") {
				return fmt.Errorf("%q: want a name relative to %s", name, dirRoots[kind])
			}
		}
		if v == "" {
			b.dirs[kind] = nil
		}
		b.dirs[kind] = append(b.dirs[kind], strings.Fields(v)...)
		return nil
	}
}

func dirModeDirective(kind string) directive {
	return func(_ *Service, b *builder, _ Assignment, v string) error {
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("want an octal mode such as 0755")
		}
		b.dirModes[kind] = uint32(m)
		return nil
	}
}

func timeoutStop(s *Service, _ *builder, _ Assignment, v string) error {
	d, err := parseTimespan(v)
	if err != nil {
		return err
	}
	s.TimeoutStop = min(d, MaxTimeoutStop)
	return nil
}

func output(field func(s *Service) *string) directive {
	return func(s *Service, _ *builder, _ Assignment, v string) error {
		switch {
		case v == "null":
			*field(s) = "/dev/null"
		case v == "" || v == "inherit" || v == "journal" || v == "kmsg" || v == "console" || v == "tty" ||
			v == "syslog" || strings.HasSuffix(v, "+console"):
			*field(s) = ""
		case strings.HasPrefix(v, "file:") || strings.HasPrefix(v, "append:") || strings.HasPrefix(v, "truncate:"):
			_, p, _ := strings.Cut(v, ":")
			if !path.IsAbs(p) {
				return fmt.Errorf("want an absolute path after the colon")
			}
			*field(s) = p
		default:
			return fmt.Errorf("not supported: want null, inherit, journal, kmsg, console, tty, file:PATH or append:PATH")
		}
		return nil
	}
}

// parseBool reads a systemd boolean.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("want a boolean (yes or no)")
}

// parseTimespan reads a systemd time span: "90" (seconds), "5s", "1min
// 30s", "200ms", "infinity" (returned as the largest duration).
func parseTimespan(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "infinity" || v == "0" {
		return time.Duration(1<<63 - 1), nil
	}
	units := map[string]time.Duration{
		"us": time.Microsecond, "usec": time.Microsecond, "ms": time.Millisecond, "msec": time.Millisecond,
		"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
		"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	}
	re := regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)`)
	var total time.Duration
	rest := v
	for strings.TrimSpace(rest) != "" {
		m := re.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Errorf("want a time span such as 90s or 1min 30s")
		}
		u, ok := units[m[2]]
		if !ok {
			return 0, fmt.Errorf("unknown time unit %q", m[2])
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		total += time.Duration(f * float64(u))
		rest = rest[len(m[0]):]
	}
	return total, nil
}

// expandSpecifiers replaces the % specifiers of a unit file value.
func expandSpecifiers(v string, u *Unit, ctx Context) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	base := strings.TrimSuffix(u.Name, path.Ext(u.Name))
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", fmt.Errorf("a %% at the end")
		}
		i++
		switch c := v[i]; c {
		case '%':
			b.WriteByte('%')
		case 'n':
			b.WriteString(u.Name)
		case 'N':
			b.WriteString(base)
		case 'p':
			b.WriteString(u.Prefix())
		case 'P':
			b.WriteString(unescapeName(u.Prefix()))
		case 'i':
			b.WriteString(u.Instance())
		case 'I':
			b.WriteString(unescapeName(u.Instance()))
		case 'j':
			b.WriteString(lastDash(u.Prefix()))
		case 'J':
			b.WriteString(unescapeName(lastDash(u.Prefix())))
		case 'f':
			name := u.Instance()
			if name == "" {
				name = u.Prefix()
			}
			b.WriteString("/" + strings.TrimPrefix(unescapeName(name), "/"))
		case 't':
			b.WriteString("/run")
		case 'S':
			b.WriteString("/var/lib")
		case 'C':
			b.WriteString("/var/cache")
		case 'L':
			b.WriteString("/var/log")
		case 'E':
			b.WriteString("/etc")
		case 'T':
			b.WriteString("/tmp")
		case 'V':
			b.WriteString("/var/tmp")
		case 'H', 'l':
			b.WriteString(ctx.Hostname)
		default:
			return "", fmt.Errorf("the specifier %%%c is not supported (vmtest knows %%n %%N %%p %%P %%i %%I %%j %%J %%f %%t %%S %%C %%L %%E %%T %%V %%H %%l %%%%)", c)
		}
	}
	return b.String(), nil
}

// lastDash is what follows the last "-" of a prefix (%j).
func lastDash(p string) string {
	if i := strings.LastIndexByte(p, '-'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// unescapeName undoes systemd-escape: "-" is "/", "\xNN" a byte.
func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '-':
			b.WriteByte('/')
		case s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x':
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
