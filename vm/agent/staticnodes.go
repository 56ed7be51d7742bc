//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// makeStaticNodes makes the device nodes of modules that are not loaded
// yet, as kmod's static-nodes does on a booted Debian (through
// systemd-tmpfiles): /dev/fuse, /dev/net/tun, /dev/loop-control and the
// others of modules.devname. Opening one makes the kernel load its module
// (request_module runs the root's /sbin/modprobe), so that `mount -o
// loop`, FUSE and TUN work without a manual modprobe. A node that exists
// is left alone; modes are udev's defaults (0666 for fuse and net/tun,
// 0600 otherwise). A kernel without modules.devname has no such nodes.
func makeStaticNodes(root string) error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("static device nodes: %w", err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	data, err := os.ReadFile(filepath.Join(root, "lib/modules", release, "modules.devname"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("static device nodes: %w", err)
	}
	for _, n := range parseDevname(data) {
		path := filepath.Join(root, "dev", n.name)
		if _, err := os.Lstat(path); err == nil {
			continue
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		mode := uint32(0o600)
		if n.name == "fuse" || n.name == "net/tun" {
			mode = 0o666
		}
		typ := uint32(unix.S_IFCHR)
		if n.block {
			typ = unix.S_IFBLK
		}
		if err := unix.Mknod(path, typ|mode, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("static device node /dev/%s: %w", n.name, err)
		}
		os.Chmod(path, os.FileMode(mode)) // past the umask
	}
	return nil
}

// devNode is one line of modules.devname: "fuse fuse c10:229" (module,
// node name under /dev, c or b with major:minor).
type devNode struct {
	name         string
	block        bool
	major, minor uint32
}

// parseDevname reads modules.devname, skipping comments and lines it
// does not understand, and names that would leave /dev.
func parseDevname(data []byte) []devNode {
	var nodes []devNode
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || strings.HasPrefix(f[0], "#") || len(f[2]) < 4 {
			continue
		}
		name := filepath.Clean(f[1])
		if !filepath.IsLocal(name) {
			continue
		}
		var n devNode
		switch f[2][0] {
		case 'c':
		case 'b':
			n.block = true
		default:
			continue
		}
		if _, err := fmt.Sscanf(f[2][1:], "%d:%d", &n.major, &n.minor); err != nil {
			continue
		}
		n.name = name
		nodes = append(nodes, n)
	}
	return nodes
}
