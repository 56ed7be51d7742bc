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
func configure(_ context.Context, req wire.Request, bn *bootNetwork) error {
	trace("configure")
	// Before anything draws a random number: a machine revived from a boot
	// snapshot shares its generator's state with every other one until now.
	if err := reseed(req.Entropy); err != nil {
		return err
	}
	if err := setClock(req.TimeNS); err != nil {
		return err
	}
	trace("reseeded, clock set")
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
		return fmt.Errorf("mounting the host root (9p tag %q): %w", tag, err)
	}
	trace("9p root mounted")
	if err := mountUpper(req.Disk); err != nil {
		return err
	}
	trace("upper layer mounted")
	upper, work := filepath.Join(diskDir, "upper"), filepath.Join(diskDir, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("preparing the overlay: %w", err)
		}
	}
	// The guest's /tmp starts empty rather than showing the host's: an
	// opaque directory in the upper layer hides the lower one.
	tmp := filepath.Join(upper, "tmp")
	if _, err := os.Stat(tmp); os.IsNotExist(err) {
		if err := os.Mkdir(tmp, 0o1777); err != nil {
			return fmt.Errorf("preparing /tmp: %w", err)
		}
		os.Chmod(tmp, 0o1777|os.ModeSticky)
		if err := unix.Setxattr(tmp, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("making /tmp opaque: %w", err)
		}
	}
	// Before the overlay is mounted: hidePaths changes the upper layer.
	if err := hidePaths(lowerDir, upper, req.Hide); err != nil {
		return err
	}
	trace("hidden paths hidden")
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lowerDir, upper, work)
	if err := unix.Mount("overlay", newRoot, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting the overlay root (%s): %w", opts, err)
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
			return fmt.Errorf("setting the host name: %w", err)
		}
	}
	unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, "")
	err := configureNetwork(bn, req.Interfaces)
	trace("network configured")
	return err
}

// mountUpper mounts what holds the overlay's upper layer on diskDir: the
// ext4 file system on the block device disk (e.g. "vda"), probed before
// hello (see loadDeviceModules); or, when disk is empty, a tmpfs, so a
// throwaway machine pays neither for the disk modules nor for a journal.
func mountUpper(disk string) error {
	if disk == "" {
		if err := unix.Mount("tmpfs", diskDir, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mounting a tmpfs for the upper layer: %w", err)
		}
		return nil
	}
	// noinit_itable: a fresh image was made with lazy inode tables; zeroing
	// them in the background would burn guest CPU for nothing.
	// no_prefetch_block_bitmaps: nor reading every group's block bitmap
	// ahead, in a kernel thread started for that.
	if err := unix.Mount("/dev/"+disk, diskDir, "ext4", 0, "noinit_itable,no_prefetch_block_bitmaps"); err != nil {
		return fmt.Errorf("mounting the machine disk /dev/%s: %w", disk, err)
	}
	return nil
}

// switchRoot moves the kernel file systems into the new root and makes it
// the process's "/", as switch_root(8) does. The initramfs was freed before
// hello (see freeInitramfs); the agent keeps running from memory.
func switchRoot() error {
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(d, newRoot+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s into the new root: %w", d, err)
		}
	}
	// /dev/pts and /dev/shm came along with /dev (see earlyMounts).
	os.MkdirAll(newRoot+"/run", 0o755)
	if err := unix.Mount("tmpfs", newRoot+"/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs on /run: %w", err)
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the new root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("entering the new root: %w", err)
	}
	return os.Chdir("/")
}
