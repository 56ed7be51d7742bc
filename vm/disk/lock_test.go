package disk

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.qcow2")
	os.WriteFile(path, nil, 0o600)
	release, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("a second lock: %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	release()
	release, err = Lock(path)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release()
}
