package runtime

import (
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

// TestBootFilesAccounts adds users and groups to a fixture host's and
// resolves file owners against them.
func TestBootFilesAccounts(t *testing.T) {
	s := NewSpec("m")
	s.Groups = []Group{{Name: "staff", GID: -1}, {Name: "ops", GID: 3000}}
	s.Users = []User{
		{Name: "alice", UID: -1, Groups: []string{"staff", "sudo"}},
		{Name: "carol", UID: 1500, Group: "users", Home: "/srv/carol", Shell: "/bin/sh", Description: "Carol", HashedPassword: "$6$x$y"},
		{Name: "svc", UID: -1, System: true},
	}
	s.Files = []File{
		{File: wire.File{Path: "/srv/data", Kind: wire.FileDir, Mode: 0o750}, Owner: "alice", Group: "staff"},
		{File: wire.File{Path: "/etc/motd", Mode: 0o644, Data: []byte("hi\n")}, Owner: "1234"},
		{File: wire.File{Path: "/etc/issue", Mode: 0o644, Data: []byte("more\n"), Append: true}},
	}
	files, err := s.bootFiles("testdata/root")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]wire.File{}
	var order []string
	for _, f := range files {
		byPath[f.Path] = f
		order = append(order, f.Path)
	}
	if got := strings.Join(order, " "); got != "/etc/passwd /etc/group /etc/shadow /etc/gshadow /srv/carol /home/alice /srv/data /etc/motd /etc/issue" {
		t.Errorf("files in the order %s", got)
	}
	passwd := string(byPath["/etc/passwd"].Data)
	for _, want := range []string{
		"bob:x:1000:1000::/home/bob:/bin/bash\n",      // the host's, kept
		"carol:x:1500:100:Carol:/srv/carol:/bin/sh\n", // explicit ids first
		"alice:x:1002:1002::/home/alice:/bin/bash\n",  // the first id free as uid and gid: staff took 1001
		"svc:x:999:999::/nonexistent:/usr/sbin/nologin\n",
	} {
		if !strings.Contains(passwd, want) {
			t.Errorf("/etc/passwd lacks %q:\n%s", want, passwd)
		}
	}
	group := string(byPath["/etc/group"].Data)
	for _, want := range []string{"sudo:x:27:alice\n", "users:x:100:bob\n", "staff:x:1001:alice\n", "ops:x:3000:\n", "alice:x:1002:\n", "svc:x:999:\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("/etc/group lacks %q:\n%s", want, group)
		}
	}
	if sh := byPath["/etc/shadow"]; !sh.Append || !strings.Contains(string(sh.Data), "carol:$6$x$y:") || !strings.Contains(string(sh.Data), "alice:*:") {
		t.Errorf("/etc/shadow: %+v %s", sh, sh.Data)
	}
	if h := byPath["/home/alice"]; h.Kind != wire.FileDir || h.UID != 1002 || h.GID != 1002 || h.Mode != 0o755 {
		t.Errorf("alice's home: %+v", h)
	}
	if _, ok := byPath["/nonexistent"]; ok {
		t.Error("a system user got a home directory")
	}
	if d := byPath["/srv/data"]; d.UID != 1002 || d.GID != 1001 || d.Mode != 0o750 {
		t.Errorf("/srv/data: %+v", d)
	}
	if m := byPath["/etc/motd"]; m.UID != 1234 || m.GID != 0 {
		t.Errorf("/etc/motd: %+v", m)
	}
}

func TestBootFilesErrors(t *testing.T) {
	for _, tc := range []struct {
		spec func(s *Spec)
		want string
	}{
		{func(s *Spec) { s.Users = []User{{Name: "bob", UID: -1}} }, "machine m: users: bob: the user exists already (in /etc/passwd)"},
		{func(s *Spec) { s.Users = []User{{Name: "x", UID: 1000}} }, "machine m: users: x: uid 1000 is user bob's already"},
		{func(s *Spec) {
			s.Users = []User{{Name: "x", UID: -1, Group: "staf"}}
			s.Groups = []Group{{Name: "staff", GID: -1}}
		},
			"machine m: users: x: group: no group staf (did you mean staff?)"},
		{func(s *Spec) { s.Users = []User{{Name: "x", UID: -1, Groups: []string{"sudoo"}}} }, "users: x: groups: no group sudoo (did you mean sudo?)"},
		{func(s *Spec) { s.Groups = []Group{{Name: "sudo", GID: -1}} }, "machine m: groups: sudo: the group exists already (in /etc/group)"},
		{func(s *Spec) { s.Users = []User{{Name: "postgres", UID: -1}} }, "users: postgres: the user exists already"},
		{func(s *Spec) {
			s.Files = []File{{File: wire.File{Path: "/x"}, Owner: "alcie"}}
			s.Users = []User{{Name: "alice", UID: -1}}
		},
			"machine m: files: /x: owner: no user alcie (did you mean alice?)"},
		{func(s *Spec) { s.Files = []File{{File: wire.File{Path: "/x"}, Group: "nope"}} }, "machine m: files: /x: group: no group nope"},
	} {
		s := NewSpec("m")
		tc.spec(&s)
		if _, err := s.bootFiles("testdata/root"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
