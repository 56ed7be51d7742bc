//go:build linux

package agent

import (
	"time"

	"golang.org/x/sys/unix"
)

// stopGrace is how long processes get between SIGTERM and SIGKILL when the
// machine powers off, to flush their state to disk.
const stopGrace = 5 * time.Second

// powerDown stops every other process (SIGTERM, then SIGKILL after
// stopGrace), syncs the disks and powers off or resets the machine. It
// does not return.
func powerDown(reboot bool) {
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(stopGrace)
	for time.Now().Before(deadline) && othersAlive() {
		time.Sleep(20 * time.Millisecond)
	}
	unix.Kill(-1, unix.SIGKILL)
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	for {
		unix.Reboot(cmd)
		time.Sleep(time.Second)
	}
}

// othersAlive reports whether any process other than PID 1 and kernel
// threads remains. kill(-1, 0) fails with ESRCH when there is none left to
// signal. Zombies still count until reaped, which the Reaper does.
func othersAlive() bool {
	return unix.Kill(-1, 0) == nil
}
