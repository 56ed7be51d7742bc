package hostbuild

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCachesByInputs(t *testing.T) {
	cacheDir, src := t.TempDir(), t.TempDir()
	input := filepath.Join(src, "name.txt")
	os.WriteFile(input, []byte("server\n"), 0o644)
	counter := filepath.Join(src, "runs")
	step := Step{Name: "greeting", Dir: src, Inputs: []string{input},
		Command: `echo run >> runs; echo "hello $(cat name.txt)" > $out/greeting; echo made`}
	var log bytes.Buffer
	r, err := Run(context.Background(), cacheDir, step, &log)
	if err != nil || r.Cached || log.String() != "made\n" {
		t.Fatalf("first run: %+v, %v, output %q", r, err, log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(r.Dir, "greeting")); string(b) != "hello server\n" {
		t.Errorf("output %q", b)
	}
	again, err := Run(context.Background(), cacheDir, step, &log)
	if err != nil || !again.Cached || again.Dir != r.Dir {
		t.Errorf("second run: %+v, %v", again, err)
	}
	os.WriteFile(input, []byte("client\n"), 0o644)
	changed, err := Run(context.Background(), cacheDir, step, &log)
	if err != nil || changed.Cached || changed.Dir == r.Dir {
		t.Errorf("after the input changed: %+v, %v", changed, err)
	}
	if b, _ := os.ReadFile(counter); string(b) != "run\nrun\n" {
		t.Errorf("the command ran %q", b)
	}
}

func TestRunFailureLeavesNothing(t *testing.T) {
	cacheDir := t.TempDir()
	step := Step{Name: "broken", Dir: t.TempDir(), Command: "touch $out/half; echo oops >&2; exit 3"}
	var log bytes.Buffer
	_, err := Run(context.Background(), cacheDir, step, &log)
	if err == nil || err.Error() != "its command failed with exit status 3" || log.String() != "oops\n" {
		t.Fatalf("got %v, output %q", err, log.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(cacheDir, "build")); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
	if _, err := (Step{Name: "x", Inputs: []string{"/nonexistent/in"}}).Key(); err == nil || !strings.Contains(err.Error(), "input /nonexistent/in: no such file or directory") {
		t.Errorf("a missing input: %v", err)
	}
}
