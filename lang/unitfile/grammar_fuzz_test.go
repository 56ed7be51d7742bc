package unitfile

import (
	"strings"
	"testing"
)

// FuzzParse: any unit file (the packages of a host, or a script's files,
// write them) parses or is refused with an error of one line that names
// the file and quotes at most 200 bytes of it, in time linear in its
// size.
func FuzzParse(f *testing.F) {
	f.Add("[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/echo a \\\n  b\nEnvironment=\"A=1\" B=2\n# c\n; d\n")
	f.Add("[Unit\nA=b\n")
	f.Add("A=b\n")
	f.Add("[Service]\r\nExecStart=/bin/true\r\n")
	f.Add("[" + strings.Repeat("[", 300) + "\n")
	f.Add("[Service]\nA=\\")
	f.Fuzz(func(t *testing.T, src string) {
		secs, err := parse(t.Context(), "t.service", []byte(src))
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "t.service") || strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Fatalf("error %q: want one line naming the file, at most 400 bytes", msg)
			}
			return
		}
		for _, s := range secs {
			for _, a := range s.Assignments {
				if a.Line < 1 || a.File != "t.service" {
					t.Fatalf("assignment %+v has no position", a)
				}
			}
		}
	})
}
