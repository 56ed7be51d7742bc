package hide

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/vm/wire"
)

// Replacements returns the files a guest gets in place of hidden ones it
// needs to work, to be written into its root after hiding (and before
// a machine's own files, which win):
//
//   - /etc/shadow and /etc/gshadow: every account of root's /etc/passwd,
//     every group of its /etc/group (with its members), each with a
//     locked password ("*", "!"). So PAM, su and sshd find the accounts
//     they check, and no hash of the host's reaches a guest.
//   - /etc/ssh/ssh_host_*_key (and .pub): host keys of the same types,
//     made once by ssh-keygen -A in cacheDir and kept there, for every
//     guest: so sshd starts, without the host's own keys.
//
// root is the host root ("" for "/").
func Replacements(root string, hidden []wire.Hidden, cacheDir string) ([]wire.File, error) {
	if root == "" {
		root = "/"
	}
	var out []wire.File
	var keys []string
	for _, h := range hidden {
		switch {
		case h.Path == "/etc/shadow" || h.Path == "/etc/gshadow":
			f, err := lockedAccounts(root, h.Path)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		case path.Dir(h.Path) == "/etc/ssh" && strings.HasPrefix(path.Base(h.Path), "ssh_host_") && strings.HasSuffix(h.Path, "_key"):
			keys = append(keys, path.Base(h.Path))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	dir, err := hostKeys(cacheDir)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		priv, err1 := os.ReadFile(filepath.Join(dir, k))
		pub, err2 := os.ReadFile(filepath.Join(dir, k+".pub"))
		if err1 != nil || err2 != nil {
			continue // a type ssh-keygen -A does not make: the guest has none
		}
		out = append(out,
			wire.File{Path: "/etc/ssh/" + k, Mode: 0o600, Data: priv},
			wire.File{Path: "/etc/ssh/" + k + ".pub", Mode: 0o644, Data: pub})
	}
	return out, nil
}

// lockedAccounts returns /etc/shadow (from /etc/passwd) or /etc/gshadow
// (from /etc/group) with every password locked, owned by root and the
// group shadow, mode 0640, as Debian has them.
func lockedAccounts(root, p string) (wire.File, error) {
	src := "/etc/passwd"
	if p == "/etc/gshadow" {
		src = "/etc/group"
	}
	data, err := os.ReadFile(filepath.Join(root, src))
	if err != nil {
		return wire.File{}, fmt.Errorf("%s for the guests: %w", p, err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		if p == "/etc/shadow" {
			fmt.Fprintf(&b, "%s:*:::::::\n", f[0])
		} else {
			fmt.Fprintf(&b, "%s:!::%s\n", f[0], f[3])
		}
	}
	return wire.File{Path: p, Mode: 0o640, Data: []byte(b.String()), GID: groupID(root, "shadow")}, nil
}

// groupID returns the gid of group name in root's /etc/group, 0 if none.
func groupID(root, name string) int {
	data, _ := os.ReadFile(filepath.Join(root, "etc/group"))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 3 && f[0] == name {
			if id, err := strconv.Atoi(f[2]); err == nil {
				return id
			}
		}
	}
	return 0
}

// hostKeys returns the directory of the guests' SSH host keys in
// cacheDir, making them with ssh-keygen -A the first time (in a
// directory of its own, renamed into place: concurrent vmtests never see
// half of them).
func hostKeys(cacheDir string) (string, error) {
	dir := filepath.Join(cacheDir, "guest-ssh-host-keys")
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return "", fmt.Errorf("the guests' SSH host keys: ssh-keygen not found (install with: apt-get install openssh-client), or share the host's with share = [\"/etc/ssh\"]")
	}
	tmp, err := os.MkdirTemp(cacheDir, ".guest-ssh-host-keys-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "etc/ssh"), 0o700); err != nil {
		return "", err
	}
	if out, err := exec.Command(keygen, "-A", "-f", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("making the guests' SSH host keys: ssh-keygen -A: %w: %s", err, bytes.TrimSpace(out))
	}
	if err := os.Rename(filepath.Join(tmp, "etc/ssh"), dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil // another vmtest made them first
		}
		return "", errors.Join(errors.New("keeping the guests' SSH host keys"), err)
	}
	return dir, nil
}
