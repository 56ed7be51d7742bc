package activate

import (
	"context"
	"reflect"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

func file(path, data string) wire.File { return wire.File{Path: path, Mode: 0o644, Data: []byte(data)} }

const webUnit = "[Service]\nExecStart=/usr/bin/web\nX-Restart-Triggers=/etc/web/site.conf\nX-Reload-Triggers=/etc/web/tls.pem\n"

// base is a machine with two services, one of ours (web) and one of the
// host's packages with a drop-in (ssh), and a file a variant drops.
var base = Config{
	Files: []wire.File{
		file("/etc/systemd/system/web.service", webUnit),
		file("/etc/systemd/system/ssh.service.d/port.conf", "[Service]\nEnvironment=PORT=22\n"),
		file("/etc/web/site.conf", "root /srv\n"),
		file("/etc/web/tls.pem", "key 1\n"),
		file("/etc/motd", "hello\n"),
		{Path: "/etc/hosts.allow", Data: []byte("sshd: ALL\n"), Append: true},
	},
	Units: []string{"web.service", "ssh.service", "cron.service"},
}

// with returns base with files replaced or added.
func with(units []string, files ...wire.File) Config {
	c := Config{Units: units}
	for _, f := range base.Files {
		replaced := false
		for _, n := range files {
			replaced = replaced || n.Path == f.Path
		}
		if !replaced {
			c.Files = append(c.Files, f)
		}
	}
	c.Files = append(c.Files, files...)
	return c
}

func TestMakeUnitActions(t *testing.T) {
	for _, c := range []struct {
		name string
		new  Config
		want Plan
	}{
		{"nothing changed", base, Plan{}},
		{"a restart trigger changed", with(base.Units, file("/etc/web/site.conf", "root /var/www\n")),
			Plan{Write: []wire.File{file("/etc/web/site.conf", "root /var/www\n")}, Restart: []string{"web.service"}}},
		{"a reload trigger changed", with(base.Units, file("/etc/web/tls.pem", "key 2\n")),
			Plan{Write: []wire.File{file("/etc/web/tls.pem", "key 2\n")}, Reload: []string{"web.service"}}},
		{"a drop-in changed", with(base.Units, file("/etc/systemd/system/ssh.service.d/port.conf", "[Service]\nEnvironment=PORT=2222\n")),
			Plan{Write: []wire.File{file("/etc/systemd/system/ssh.service.d/port.conf", "[Service]\nEnvironment=PORT=2222\n")}, DaemonReload: true, Restart: []string{"ssh.service"}}},
		{"only the unit's reload triggers changed", with(base.Units, file("/etc/systemd/system/web.service", "[Service]\nExecStart=/usr/bin/web\nX-Restart-Triggers=/etc/web/site.conf\nX-Reload-Triggers=/etc/web/other.pem\n")),
			Plan{Write: []wire.File{file("/etc/systemd/system/web.service", "[Service]\nExecStart=/usr/bin/web\nX-Restart-Triggers=/etc/web/site.conf\nX-Reload-Triggers=/etc/web/other.pem\n")}, DaemonReload: true, Reload: []string{"web.service"}}},
		{"X-ReloadIfChanged", with(base.Units, file("/etc/systemd/system/ssh.service.d/port.conf", "[Unit]\nX-ReloadIfChanged=true\n")),
			Plan{Write: []wire.File{file("/etc/systemd/system/ssh.service.d/port.conf", "[Unit]\nX-ReloadIfChanged=true\n")}, DaemonReload: true, Reload: []string{"ssh.service"}}},
		{"X-RestartIfChanged=false", with(base.Units, file("/etc/systemd/system/ssh.service.d/port.conf", "[Unit]\nX-RestartIfChanged=false\n")),
			Plan{Write: []wire.File{file("/etc/systemd/system/ssh.service.d/port.conf", "[Unit]\nX-RestartIfChanged=false\n")}, DaemonReload: true, Kept: []string{"ssh.service"}}},
		{"units added and dropped", with([]string{"web.service", "ssh.service", "nginx.service"}),
			Plan{Stop: []string{"cron.service"}, Start: []string{"nginx.service"}}},
	} {
		if got := Make(base, c.new); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestMakeFiles(t *testing.T) {
	new := Config{Units: base.Units}
	for _, f := range base.Files {
		if f.Path != "/etc/motd" && f.Path != "/etc/hosts.allow" && f.Path != "/etc/web/tls.pem" {
			new.Files = append(new.Files, f)
		}
	}
	new.Files = append(new.Files, wire.File{Path: "/srv/data", Mode: 0o750, Kind: wire.FileDir, UID: 1000, GID: 1000}, file("/srv/data/x", "x"))
	p := Make(base, new)
	if want := []string{"/etc/web/tls.pem", "/etc/motd"}; !reflect.DeepEqual(p.Remove, want) {
		t.Errorf("removed %q, want %q (deepest first; appended text stays)", p.Remove, want)
	}
	if len(p.Write) != 2 || p.Write[0].Path != "/srv/data" || p.Write[1].Path != "/srv/data/x" {
		t.Errorf("written %+v, want the directory before its file", p.Write)
	}
	if !reflect.DeepEqual(p.Reload, []string{"web.service"}) {
		t.Errorf("a removed reload trigger: reload %q", p.Reload)
	}
	if p.Empty() || !Make(new, new).Empty() {
		t.Error("Empty")
	}
}

// TestApplyNeedsSystemdForUnits: a plan that acts on units, on a machine
// without systemd, fails before it changes anything (the guest is not
// called).
func TestApplyNeedsSystemdForUnits(t *testing.T) {
	p := Make(base, with([]string{"web.service"}))
	if err := Apply(context.Background(), nil, p, false); err != ErrNoServiceManager {
		t.Errorf("got %v", err)
	}
}
