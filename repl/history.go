package repl

import (
	"os"
	"path/filepath"
)

// HistoryFile returns the file the prompt keeps its history in,
// creating its directory: $XDG_STATE_HOME/vmtest/history, else
// ~/.local/state/vmtest/history (the XDG base directory specification's
// place for state). It returns "" when neither can be made: the prompt
// then keeps no history.
func HistoryFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) { // the specification ignores relative paths
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	dir = filepath.Join(dir, "vmtest")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "history")
}
