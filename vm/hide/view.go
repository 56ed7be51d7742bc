//go:build linux

package hide

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// View is the host root as one machine's QEMU exports it over 9p: in a
// mount namespace of that QEMU's own, the whole tree of "/" bound at
// Root, with an empty, read-only file system over /proc, /sys, /dev,
// /run and /tmp (the guest mounts its own; the host's hold other
// processes' environments, devices and sockets), and over each hidden
// path a placeholder with its mode and owner but nothing in it. Nothing
// changes outside that namespace, and it goes away with QEMU.
type View struct {
	Root    string // an empty directory: QEMU exports it (-fsdev path=)
	Scratch string // a private directory, for the placeholders (in a directory of their own)
	Hide    []wire.Hidden
}

// WrapperArg, as the first argument of the vmtest binary, makes it the
// wrapper that sets up a View and execs QEMU (see Command, Main).
const WrapperArg = "__vmtest-qemu-view"

// Covered are the directories of the host root that a View covers with
// an empty file system.
var Covered = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}

// Command returns the command that starts qemu with args inside v: the
// vmtest binary self, started in a new mount namespace (unshared and
// made private before it runs), sets v up, then execs QEMU in its place.
// So QEMU keeps the process, and what the caller sets on the command
// (its SysProcAttr's parent-death signal and process group, extra
// files, output) holds for QEMU: only a set-user-id binary would clear
// the parent-death signal at exec.
func Command(self, qemu string, args []string, v View) (*exec.Cmd, error) {
	spec, err := json.Marshal(wrapperSpec{View: v, QEMU: qemu})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{WrapperArg, string(spec), "--"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	return cmd, nil
}

// wrapperSpec is what the wrapper is told, as JSON in its arguments.
type wrapperSpec struct {
	View
	QEMU string
}

// Probe reports whether views can be made here: vmtest runs as root,
// and self, started as the wrapper in a new mount namespace, can bind
// and mount there. It starts self once, for a few milliseconds.
func Probe(self string) error {
	if os.Geteuid() != 0 {
		return errors.New("vmtest does not run as root")
	}
	cmd := exec.Command(self, WrapperArg, "probe")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("a mount namespace for QEMU: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Main is the wrapper: it sets up the View its arguments describe (args
// are those after WrapperArg) and execs QEMU. It never returns; on an
// error it says why on standard error (which the machine's boot error
// shows) and exits 1.
func Main(args []string) {
	err := wrap(args)
	fmt.Fprintf(os.Stderr, "vmtest: hiding the host's files from the guest: %v\n", err)
	os.Exit(1)
}

func wrap(args []string) error {
	// Only ever in a mount namespace of its own (Command's): run by hand,
	// its mounts would change the host's.
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink("/proc/" + strconv.Itoa(os.Getppid()) + "/ns/mnt")
	if err1 != nil || err2 != nil || self == parent {
		return errors.New("not in a mount namespace of its own; this is vmtest's QEMU wrapper, not a command")
	}
	if len(args) == 1 && args[0] == "probe" {
		return probe()
	}
	if len(args) < 2 || args[1] != "--" {
		return fmt.Errorf("usage: %s SPEC -- QEMU-ARGS", WrapperArg)
	}
	var s wrapperSpec
	if err := json.Unmarshal([]byte(args[0]), &s); err != nil {
		return err
	}
	if err := s.View.make(); err != nil {
		return err
	}
	return syscall.Exec(s.QEMU, append([]string{s.QEMU}, args[2:]...), os.Environ())
}

// probe tries what make does, on a tmpfs of its own.
func probe() error {
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "size=4k"); err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// make sets the view up, in this process's mount namespace.
func (v View) make() error {
	if err := unix.Mount("/", v.Root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding / at %s: %w", v.Root, err)
	}
	for _, d := range Covered {
		p := filepath.Join(v.Root, d)
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=0755"); err != nil {
			return fmt.Errorf("covering %s: %w", d, err)
		}
	}
	root, err := unix.Open(v.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	// Placeholders of this boot: a directory of their own in Scratch.
	if v.Scratch, err = os.MkdirTemp(v.Scratch, "hidden-"); err != nil {
		return err
	}
	for i, h := range v.Hide {
		if err := v.cover(root, i, h); err != nil {
			return fmt.Errorf("%s: %w", h.Path, err)
		}
	}
	return nil
}

// cover binds a placeholder over the hidden path h in the view whose
// root is the descriptor root. The path is found without following any
// link (the host resolved them when it chose it): one that became a
// link since is an error, one that is gone is left.
func (v View) cover(root, i int, h wire.Hidden) error {
	rel := strings.TrimPrefix(path.Clean("/"+h.Path), "/")
	target, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS,
	})
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir != h.Dir {
		return fmt.Errorf("it is no longer a %s", map[bool]string{true: "directory", false: "file"}[h.Dir])
	}
	ph := filepath.Join(v.Scratch, strconv.Itoa(i))
	if isDir {
		err = os.Mkdir(ph, 0o700)
	} else {
		err = os.WriteFile(ph, nil, 0o600)
	}
	if err != nil {
		return err
	}
	// The placeholder looks like what it covers, but for what is in it.
	if err := os.Lchown(ph, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(ph, os.FileMode(st.Mode&0o777)); err != nil {
		return err
	}
	if err := unix.Mount(ph, "/proc/self/fd/"+strconv.Itoa(target), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding a placeholder over it: %w", err)
	}
	return nil
}
