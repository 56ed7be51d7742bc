//go:build linux

package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// Mount points inside the initramfs.
const (
	lowerDir = "/mnt/lower" // the host root, read-only over 9p
	diskDir  = "/mnt/disk"  // the machine's own disk: upper layer and work dir
	newRoot  = "/newroot"   // the overlay, entered by switchRoot
)

// configure turns the initramfs into the machine's root: the host's files
// over 9p, read-only, under an overlay whose upper layer is the machine's
// disk (or memory, for a machine without one). It then writes the requested files, switches into the new root and
// configures the network interfaces.
func configure(_ context.Context, req wire.Request) error {
	if err := setClock(req.TimeNS); err != nil {
		return err
	}
	if len(req.Entropy) > 0 {
		addEntropy(req.Entropy)
	}
	// First, so the NICs' drivers probe while the root is being built;
	// configureNetwork finds the links later by MAC.
	if len(req.Interfaces) > 0 {
		if err := loadModules("/modules.net"); err != nil {
			return err
		}
	}
	for _, d := range []string{lowerDir, diskDir, newRoot} {
		os.MkdirAll(d, 0o755)
	}
	tag := req.RootTag
	if tag == "" {
		tag = "root"
	}
	// cache=loose: the host root does not change under a running test, and
	// caching pages in the guest is what makes programs start fast over 9p.
	if err := unix.Mount(tag, lowerDir, "9p", unix.MS_RDONLY, "trans=virtio,version=9p2000.L,msize=512000,cache=loose"); err != nil {
		return fmt.Errorf("mounting the host root (9p tag %q): %v", tag, err)
	}
	trace("9p root mounted")
	if err := mountUpper(req.Disk); err != nil {
		return err
	}
	trace("upper layer mounted")
	upper, work := filepath.Join(diskDir, "upper"), filepath.Join(diskDir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("preparing the overlay: %v", err)
		}
	}
	// The guest's /tmp starts empty rather than showing the host's: an
	// opaque directory in the upper layer hides the lower one.
	tmp := filepath.Join(upper, "tmp")
	if _, err := os.Stat(tmp); os.IsNotExist(err) {
		if err := os.Mkdir(tmp, 0o1777); err != nil {
			return fmt.Errorf("preparing /tmp: %v", err)
		}
		os.Chmod(tmp, 0o1777|os.ModeSticky)
		if err := unix.Setxattr(tmp, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("making /tmp opaque: %v", err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lowerDir, upper, work)
	if err := unix.Mount("overlay", newRoot, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting the overlay root (%s): %v", opts, err)
	}
	if err := writeConfigFiles(newRoot, req.Files); err != nil {
		return err
	}
	trace("overlay mounted")
	if err := switchRoot(); err != nil {
		return err
	}
	trace("switched root")
	if req.Hostname != "" {
		if err := unix.Sethostname([]byte(req.Hostname)); err != nil {
			return fmt.Errorf("setting the host name: %v", err)
		}
	}
	unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, "")
	return configureNetwork(req.Interfaces)
}

// mountUpper mounts what holds the overlay's upper layer on diskDir: the
// ext4 file system on the block device disk (e.g. "vda"), loading the disk
// modules first; or, when disk is empty, a tmpfs, so a throwaway machine
// pays neither for those modules nor for a journal.
func mountUpper(disk string) error {
	if disk == "" {
		if err := unix.Mount("tmpfs", diskDir, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mounting a tmpfs for the upper layer: %v", err)
		}
		return nil
	}
	if err := loadModules("/modules.disk"); err != nil {
		return err
	}
	// noinit_itable: a fresh image was made with lazy inode tables; zeroing
	// them in the background would burn guest CPU for nothing.
	if err := unix.Mount("/dev/"+disk, diskDir, "ext4", 0, "noinit_itable"); err != nil {
		return fmt.Errorf("mounting the machine disk /dev/%s: %v", disk, err)
	}
	return nil
}

// switchRoot moves the kernel file systems into the new root, frees the
// initramfs and makes the new root the process's "/", as switch_root(8)
// does. The agent keeps running from memory.
func switchRoot() error {
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, newRoot+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s into the new root: %v", d, err)
		}
	}
	for _, m := range []struct{ fstype, dst, opts string }{
		{"tmpfs", "/run", "mode=0755"},
		{"devpts", "/dev/pts", "gid=5,mode=0620,ptmxmode=0666"},
		{"tmpfs", "/dev/shm", "mode=1777"},
	} {
		os.MkdirAll(newRoot+m.dst, 0o755)
		if err := unix.Mount(m.fstype, newRoot+m.dst, m.fstype, unix.MS_NOSUID|unix.MS_NODEV, m.opts); err != nil {
			return fmt.Errorf("mounting %s on %s: %v", m.fstype, m.dst, err)
		}
	}
	// Free what the initramfs held; only the files the agent itself put
	// there, never anything below a mount point.
	os.Remove("/init")
	if lists, err := filepath.Glob("/modules.*"); err == nil {
		for _, l := range lists {
			os.Remove(l)
		}
	}
	os.RemoveAll("/lib")
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the new root onto /: %v", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("entering the new root: %v", err)
	}
	return os.Chdir("/")
}

// addEntropy mixes b into the kernel's random pool and credits it, so the
// guest's random numbers differ from every other machine's.
func addEntropy(b []byte) {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(b)
}
