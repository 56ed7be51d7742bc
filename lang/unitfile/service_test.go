package unitfile

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// mapFS is an FS of files and links given in memory.
type mapFS struct {
	files map[string]string
	links map[string]string
}

func (m mapFS) ReadFile(name string) ([]byte, error) {
	if t, ok := m.links[name]; ok {
		name = t
	}
	if s, ok := m.files[name]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

func (m mapFS) ReadDir(name string) ([]string, error) {
	var out []string
	for p := range m.files {
		if path.Dir(p) == name {
			out = append(out, path.Base(p))
		}
	}
	if out == nil {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

func (m mapFS) Readlink(name string) (string, error) {
	if t, ok := m.links[name]; ok {
		return t, nil
	}
	return "", errors.New("not a link")
}

var testFS = mapFS{
	files: map[string]string{
		"/lib/systemd/system/db@.service": `[Unit]
Description=Database %I
After=network.target web.service
AssertPathExists=/etc/db/%I/db.conf
ConditionPathExists=!/etc/db/disabled
Documentation=man:db(8)
Requires=network.target

[Service]
Type=forking
User=db
Environment="MODE=fast  start" PORT=%i
EnvironmentFile=-/etc/default/db
ExecStartPre=-/usr/bin/db-check %i
ExecStart=@/usr/bin/db db-%i --port $PORT ${MODE} "a b" \
   'c d'
ExecStop=+/usr/bin/dbctl stop
PIDFile=db/%i.pid
RuntimeDirectory=db db/%i
RuntimeDirectoryMode=2775
StateDirectory=db
TimeoutStopSec=1h
KillSignal=SIGINT
Restart=on-abort
StandardOutput=append:/var/log/db.log
StandardError=null
PrivateTmp=yes
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`,
		"/lib/systemd/system/db@.service.d/10-env.conf":     "[Service]\nEnvironment=EXTRA=1\n",
		"/etc/systemd/system/db@a-b.service.d/20-user.conf": "[Service]\nUser=\nUser=root\nExecStartPre=\n",
		"/lib/systemd/system/simple.service":                "[Service]\nExecStart=/bin/sleep 1\n",
		"/lib/systemd/system/empty.service":                 "  \n",
		"/lib/systemd/system/two.service":                   "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n",
		"/lib/systemd/system/setup.service":                 "[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\nRemainAfterExit=yes\n",
		"/lib/systemd/system/bus.service":                   "[Service]\nType=dbus\nExecStart=/bin/a\n",
		"/lib/systemd/system/sock.service":                  "[Unit]\nDescription=x\n[Service]\nSockets=x.socket\nExecStart=/bin/a\n",
		"/lib/systemd/system/typo.service":                  "[Service]\nExecStrat=/bin/a\n",
		"/lib/systemd/system/virt.service":                  "[Unit]\nConditionVirtualization=!container\n[Service]\nExecStart=/bin/a\n",
		"/lib/systemd/system/spec.service":                  "[Service]\nExecStart=/bin/a %u\n",
		"/lib/systemd/system/none.service":                  "[Unit]\nDescription=x\n",
		"/lib/systemd/system/timer.service":                 "[Timer]\nOnCalendar=daily\n",
	},
	links: map[string]string{
		"/etc/systemd/system/masked.service": "/dev/null",
		"/etc/systemd/system/alias.service":  "/lib/systemd/system/simple.service",
	},
}

func TestInterpretTemplateWithDropIns(t *testing.T) {
	u, err := Load(t.Context(), testFS, "db@a-b")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "db@a-b.service" || u.Path != "/lib/systemd/system/db@.service" || u.Prefix() != "db" || u.Instance() != "a-b" {
		t.Errorf("unit %+v", u)
	}
	s, err := Interpret(u, Context{Hostname: "m"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", what, got, want)
		}
	}
	check("description", s.Description, "Database a/b")
	check("type", s.Type, "forking")
	check("user", s.User, "root")
	check("environment", s.Environment, []string{"MODE=fast  start", "PORT=a-b", "EXTRA=1"})
	check("environment files", s.EnvironmentFiles, []string{"-/etc/default/db"})
	check("pre", s.ExecStartPre, []Command(nil))
	check("start", s.ExecStart, []Command{
		{Argv: []string{"/usr/bin/db", "--port", "$PORT", "${MODE}", "a b", "c d"}, Arg0: "db-a-b"},
	})
	check("stop", s.ExecStop, []Command{{Argv: []string{"/usr/bin/dbctl", "stop"}, Privileged: true}})
	check("pid file", s.PIDFile, "/run/db/a-b.pid")
	check("directories", s.Directories, []Directory{
		{Path: "/run/db", Mode: 0o2775, Remove: true}, {Path: "/run/db/a-b", Mode: 0o2775, Remove: true},
		{Path: "/var/lib/db", Mode: 0o755},
	})
	check("timeout", s.TimeoutStop, MaxTimeoutStop)
	check("signal", s.KillSignal, "SIGINT")
	check("restart", s.Restart, "on-failure")
	check("output", []string{s.StandardOutput, s.StandardError}, []string{"/var/log/db.log", "/dev/null"})
	check("after", s.After, []string{"network.target", "web.service"})
	check("conditions", s.Conditions, []Condition{
		{Kind: "path_exists", Path: "/etc/db/a/b/db.conf", Assert: true, Directive: "AssertPathExists=/etc/db/%I/db.conf"},
		{Kind: "path_exists", Path: "/etc/db/disabled", Negate: true, Directive: "ConditionPathExists=!/etc/db/disabled"},
	})
}

func TestInterpretErrors(t *testing.T) {
	for name, want := range map[string]string{
		"masked":        "unit masked.service is masked (/etc/systemd/system/masked.service links to /dev/null)",
		"empty":         "unit empty.service is masked (/lib/systemd/system/empty.service is empty)",
		"nosuch":        "no such unit nosuch.service in /etc/systemd/system, /run/systemd/system, /lib/systemd/system, /usr/lib/systemd/system",
		"db@":           "unit db@.service is a template: name an instance, such as db@NAME",
		"two":           "/lib/systemd/system/two.service: unit two.service: 2 ExecStart= commands; only a Type=oneshot service may have more than one",
		"bus":           "/lib/systemd/system/bus.service:2: unit bus.service: Type=dbus: Type=dbus needs a D-Bus system bus",
		"sock":          "/lib/systemd/system/sock.service:4: unit sock.service: Sockets=x.socket: not supported by vmtest: socket activation",
		"typo":          "/lib/systemd/system/typo.service:2: unit typo.service: ExecStrat=/bin/a: unknown directive in [Service], or one vmtest does not support",
		"virt":          "/lib/systemd/system/virt.service:2: unit virt.service: ConditionVirtualization=!container: this condition is not supported (vmtest checks AssertDirectoryNotEmpty",
		"spec":          "/lib/systemd/system/spec.service:2: unit spec.service: ExecStart=/bin/a %u: the specifier %u is not supported",
		"none":          "/lib/systemd/system/none.service: unit none.service: no ExecStart= (a Type=simple service needs exactly one)",
		"timer":         "/lib/systemd/system/timer.service:2: unit timer.service: section [Timer] is not supported in a service",
		"simple.socket": "unit simple.socket: vmtest runs .service units only",
	} {
		u, err := Load(t.Context(), testFS, name)
		if err == nil {
			_, err = Interpret(u, Context{})
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	for _, name := range []string{"alias", "setup"} {
		u, err := Load(t.Context(), testFS, name)
		if err == nil {
			_, err = Interpret(u, Context{})
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWords(t *testing.T) {
	got, err := splitWords(`a "b c" 'd "e"' f\ g h\x41\n "" x\;y`)
	want := []string{"a", "b c", `d "e"`, "f g", "hA\n", "", `x\;y`}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q %v, want %q", got, err, want)
	}
	for _, bad := range []string{`"open`, `trailing\`, `\q`} {
		if _, err := splitWords(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	cmds, err := parseCommands(`-/bin/a x ; :+/bin/b \; $Y`)
	if err != nil || len(cmds) != 2 || !cmds[0].IgnoreFailure || !cmds[1].NoExpand || !cmds[1].Privileged ||
		!slices.Equal(cmds[1].Argv, []string{"/bin/b", ";", "$Y"}) {
		t.Errorf("got %+v %v", cmds, err)
	}
}

func TestTimespan(t *testing.T) {
	for v, want := range map[string]time.Duration{"90": 90 * time.Second, "5s": 5 * time.Second, "1min 30s": 90 * time.Second, "200ms": 200 * time.Millisecond, "1h": time.Hour} {
		if got, err := parseTimespan(v); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, err, want)
		}
	}
}

// osFS reads the host's files.
type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }
func (osFS) Readlink(name string) (string, error) { return os.Readlink(name) }
func (osFS) ReadDir(name string) ([]string, error) {
	es, err := os.ReadDir(name)
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n, err
}

// TestHostUnits parses every service unit file of the host, and reads
// as services those of the packages the examples use (make.sh installs
// them).
func TestHostUnits(t *testing.T) {
	files, _ := filepath.Glob("/lib/systemd/system/*.service")
	if len(files) < 10 {
		t.Fatalf("only %d unit files in /lib/systemd/system", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a dangling alias
		}
		if _, err := parse(t.Context(), f, b); err != nil {
			t.Errorf("%v", err)
		}
	}
	for _, name := range []string{"ssh", "apache2", "postgresql@15-main", "rpcbind", "nfs-server", "nfs-mountd", "rpc-statd", "nfs-idmapd", "nfsdcld"} {
		u, err := Load(t.Context(), osFS{}, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s, err := Interpret(u, Context{Hostname: "m"})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch name {
		case "ssh":
			if s.Type != "notify" || len(s.ExecStart) != 1 || !slices.Equal(s.ExecStart[0].Argv, []string{"/usr/sbin/sshd", "-D", "$SSHD_OPTS"}) ||
				len(s.Directories) != 1 || s.Directories[0].Path != "/run/sshd" {
				t.Errorf("ssh: %+v", s)
			}
		case "postgresql@15-main":
			if s.Type != "forking" || s.PIDFile != "/run/postgresql/15-main.pid" || s.Conditions[0].Path != "/etc/postgresql/15/main/postgresql.conf" {
				t.Errorf("postgresql: %+v", s)
			}
		}
	}
}

// TestSpecListsDirectives: SPEC.md names every directive vmtest acts on
// or ignores.
func TestSpecListsDirectives(t *testing.T) {
	b, err := os.ReadFile("../../SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(b)
	for _, names := range Supported() {
		for _, n := range names {
			if !strings.Contains(spec, "`"+n+"=") && !strings.Contains(spec, "`"+n+"`") {
				t.Errorf("SPEC.md does not mention %s=", n)
			}
		}
	}
	for _, l := range Ignored() {
		_, rest, _ := strings.Cut(l, "] ")
		n, _, _ := strings.Cut(rest, ":")
		if !strings.Contains(spec, "`"+n+"=`") {
			t.Errorf("SPEC.md does not list %s= among the ignored directives", n)
		}
	}
}
