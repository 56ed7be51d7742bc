package disk

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// dirent is one entry of a directory of an ext4 image, as debugfs's
// "ls -p" prints it: /inode/mode/uid/gid/name/size/.
type dirent struct {
	ino  uint64
	mode uint32 // st_mode: type and permission bits
	size int64
	name string
}

// File types of an inode's mode.
const (
	modeType = 0o170000
	modeDir  = 0o040000
	modeReg  = 0o100000
)

// debugfsRun runs debugfs on img in the directory dir ("": this one)
// with the commands, one per line (-f), and returns what it printed:
// each command's output follows the line "debugfs: <command>".
func debugfsRun(ctx context.Context, debugfs, img, dir string, commands []string) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	cmd := hostcmd.Command(ctx, debugfs, "-f", "-", img)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// listDirs lists the directories of img whose inodes are given, in one
// run of debugfs, and returns their entries (without . and ..) in the
// same order. The names come from a disk a guest wrote: a line that
// cannot be read back unambiguously (a name with a slash or a newline,
// say) is an error, not a guess.
func listDirs(ctx context.Context, debugfs, img string, inodes []uint64) ([][]dirent, error) {
	cmds := make([]string, len(inodes))
	for i, ino := range inodes {
		cmds[i] = fmt.Sprintf("ls -p <%d>", ino)
	}
	out, stderr, err := debugfsRun(ctx, debugfs, img, "", cmds)
	if err != nil {
		return nil, fmt.Errorf("listing directories of %s: debugfs: %w: %s", img, err, debugfsErrors(string(stderr)))
	}
	lists := make([][]dirent, len(inodes))
	i := -1
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case line == "":
		case i+1 < len(cmds) && line == "debugfs: "+cmds[i+1]:
			i++
		case i < 0:
			return nil, fmt.Errorf("listing directories of %s: debugfs printed %q before its first command", img, line)
		default:
			e, err := parseDirent(line)
			if err != nil {
				return nil, fmt.Errorf("listing directory inode %d of %s: %v", inodes[i], img, err)
			}
			if e.name != "." && e.name != ".." {
				lists[i] = append(lists[i], e)
			}
		}
	}
	if i != len(cmds)-1 {
		return nil, fmt.Errorf("listing directories of %s: debugfs answered %d of %d commands: %s", img, i+1, len(cmds), debugfsErrors(string(stderr)))
	}
	return lists, nil
}

// parseDirent reads one line of "ls -p": exactly seven slashes, so a
// name with a slash in it, or the rest of a name with a newline, is
// refused.
func parseDirent(line string) (dirent, error) {
	f := strings.Split(line, "/")
	if len(f) != 8 || f[0] != "" || f[7] != "" || f[5] == "" {
		return dirent{}, fmt.Errorf("an entry debugfs cannot list unambiguously: %q", line)
	}
	ino, err1 := strconv.ParseUint(f[1], 10, 64)
	mode, err2 := strconv.ParseUint(f[2], 8, 32)
	size := int64(0)
	var err3 error
	if f[6] != "" {
		size, err3 = strconv.ParseInt(f[6], 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || size < 0 || strings.ContainsRune(f[5], 0) {
		return dirent{}, fmt.Errorf("an entry debugfs cannot list unambiguously: %q", line)
	}
	return dirent{ino: ino, mode: uint32(mode), size: size, name: f[5]}, nil
}

// debugfsErrors returns what debugfs printed besides its version banner.
func debugfsErrors(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "debugfs ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
