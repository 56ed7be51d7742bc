package coverage

import "path"

// GuestDir is where the programs on a machine with coverage on write
// their data, inside the guest: gcov's .gcda files under gcov/ (with the
// object files' absolute paths below it), Go's covdata files in go/.
const GuestDir = "/var/lib/vmtest/coverage"

// Guest directories of each kind of data.
var (
	GcovDir = path.Join(GuestDir, "gcov")
	GoDir   = path.Join(GuestDir, "go")
)

// Env is the environment added to every command run on a machine with
// coverage on. GCOV_PREFIX_STRIP=0 keeps the object file's whole path
// below GCOV_PREFIX, which is how Report finds its .gcno on the host.
func Env() []string {
	return []string{
		"GCOV_PREFIX=" + GcovDir,
		"GCOV_PREFIX_STRIP=0",
		"GOCOVERDIR=" + GoDir,
	}
}

// PrepareCommand is a shell command that makes the guest directories,
// writable by every user (sticky, as /tmp), so that programs running as
// any user can write their data. Go programs need GOCOVERDIR to exist.
func PrepareCommand() string {
	return "mkdir -p " + GcovDir + " " + GoDir + " && chmod 1777 " + GcovDir + " " + GoDir
}
