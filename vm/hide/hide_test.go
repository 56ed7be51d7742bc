package hide

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

// fakeRoot makes a host root with the given files (a name ending in /
// is a directory; "a -> b" a link).
func fakeRoot(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		if name, target, ok := strings.Cut(f, " -> "); ok {
			os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if strings.HasSuffix(f, "/") {
			os.MkdirAll(p, 0o700)
		} else if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestExpand: the defaults and a machine's patterns name what exists in
// every home, links resolved; shares take paths back, whole directories.
func TestExpand(t *testing.T) {
	t.Setenv("HOME", "/nonexistent")
	root := fakeRoot(t,
		"etc/passwd", "etc/shadow", "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "etc/ssh/sshd_config",
		"root/.ssh/", "home/alice/.ssh/id_rsa", "home/alice/.netrc", "home/alice/.config/gcloud/", "home/bob/.docker/config.json",
		"var/lib/svc/.aws/credentials", "home/carol/.netrc -> ../alice/dotfiles/netrc", "home/alice/dotfiles/netrc",
		"srv/app/secret.key", "srv/app/public.pem",
	)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nsvc:x:999:999::/var/lib/svc:/usr/sbin/nologin\n"), 0o644)
	got, err := Expand(root, append(Defaults, "/srv/app/*.key", "/var/lib/svc/.aws/credentials"), []string{"/home/bob/.docker"})
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Hidden{
		{Path: "/etc/shadow"},
		{Path: "/etc/ssh/ssh_host_ed25519_key"},
		{Path: "/home/alice/.config/gcloud", Dir: true},
		{Path: "/home/alice/.netrc"},
		{Path: "/home/alice/.ssh", Dir: true},
		{Path: "/home/alice/dotfiles/netrc"}, // carol's .netrc leads there
		{Path: "/root/.ssh", Dir: true},
		{Path: "/srv/app/secret.key"},
		{Path: "/var/lib/svc/.aws", Dir: true}, // and what is in it
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	if _, err := Expand(root, Defaults, []string{"~/.ssh/id_rsa"}); err == nil || err.Error() != "share: /home/alice/.ssh/id_rsa is inside /home/alice/.ssh, which is hidden; share /home/alice/.ssh itself" {
		t.Errorf("a share inside a hidden directory: %v", err)
	}
	got, _ = Expand(root, Defaults, []string{"~/.ssh", "/etc", "/home/alice"})
	want = []wire.Hidden{{Path: "/home/bob/.docker/config.json"}, {Path: "/var/lib/svc/.aws", Dir: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with shares: got %v, want %v", got, want)
	}
}

// TestReplacements: the guests' /etc/shadow and /etc/gshadow list the
// host's accounts, every password locked.
func TestReplacements(t *testing.T) {
	root := fakeRoot(t, "etc/passwd", "etc/group")
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nshadow:x:42:\nsudo:x:27:alice\n"), 0o644)
	files, err := Replacements(root, []wire.Hidden{{Path: "/etc/shadow"}, {Path: "/etc/gshadow"}, {Path: "/root/.ssh", Dir: true}}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.File{
		{Path: "/etc/shadow", Mode: 0o640, GID: 42, Data: []byte("root:*:::::::\nalice:*:::::::\n")},
		{Path: "/etc/gshadow", Mode: 0o640, GID: 42, Data: []byte("root:!::\nshadow:!::\nsudo:!::alice\n")},
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("got %+v, want %+v", files, want)
	}
}
