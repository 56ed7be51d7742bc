package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBadArgs runs the bad command lines of testdata/cli/badargs.txt and
// checks that each writes exactly what the file says on standard error,
// nothing on standard output, and exits with the status it says.
func TestBadArgs(t *testing.T) {
	cases, err := readBadArgs("testdata/cli/badargs.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata/cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := inDir(t, dir, "", nil, c.args...)
			if code != c.code || stdout != "" || !c.want.MatchString(stderr) {
				t.Errorf("%s:%d: vmtest %s: exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr matching:\n%s",
					c.file, c.line, strings.Join(c.args, " "), code, stdout, stderr, c.code, c.want)
			}
		})
	}
}

// A badArgs case is a command line and what it must write.
type badArgs struct {
	file string
	line int
	args []string
	want *regexp.Regexp // the whole of standard error
	code int
}

// readBadArgs reads the cases of a file: "$ vmtest ARGS" (words split at
// spaces; a word of two single quotes is an empty one), then the lines
// standard error must be, up to a blank line. "[usage VERB]" stands for
// the verb's usage ("[usage]": vmtest's), "[exit N]" sets the status (2
// unless said), HOST stands for a size (the host's memory, which varies)
// and COL for a column.
func readBadArgs(file string) ([]badArgs, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cases []badArgs
	var cur *badArgs
	var want strings.Builder
	end := func() {
		if cur != nil {
			cur.want = regexp.MustCompile("^" + want.String() + "$")
			cases = append(cases, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "$ vmtest"):
			end()
			cur = &badArgs{file: file, line: n, code: exitUsage}
			for _, w := range strings.Fields(strings.TrimPrefix(l, "$ vmtest")) {
				if w == "''" {
					w = ""
				}
				cur.args = append(cur.args, w)
			}
			want.Reset()
		case cur == nil || l == "":
			end()
		case strings.HasPrefix(l, "[exit "):
			cur.code, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "[exit "), "]"))
		case l == "[usage]":
			want.WriteString(regexp.QuoteMeta(usageText()))
		case strings.HasPrefix(l, "[usage "):
			want.WriteString(regexp.QuoteMeta(verbUsage(strings.TrimSuffix(strings.TrimPrefix(l, "[usage "), "]"))))
		default:
			q := regexp.QuoteMeta(l + "\n")
			q = strings.ReplaceAll(q, "HOST", `[0-9.]+ [KMGT]iB`)
			want.WriteString(strings.ReplaceAll(q, "COL", `[0-9]+`))
		}
	}
	end()
	return cases, sc.Err()
}
