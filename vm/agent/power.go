//go:build linux

package agent

import (
	"os"
	"strconv"
	"strings"
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

// othersAlive reports whether any user process other than PID 1 is still
// running. kill(-1, 0) cannot tell: it succeeds on kernel threads too.
// Zombies do not count; the Reaper collects them.
func othersAlive() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && liveUserProcess(string(b)) {
			return true
		}
	}
	return false
}

// pfKthread is the PF_KTHREAD bit of a task's flags.
const pfKthread = 0x00200000

// liveUserProcess reports whether a /proc/PID/stat line describes a process
// that is neither a kernel thread nor a zombie.
func liveUserProcess(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	// After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags ...
	f := strings.Fields(stat[i+1:])
	if len(f) < 7 || f[0] == "Z" || f[0] == "X" {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfKthread == 0
}
