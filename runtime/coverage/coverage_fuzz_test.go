package coverage

import (
	"bytes"
	"testing"
)

// FuzzTracefile: an lcov tracefile (gcov reads what a guest's programs
// wrote) parses or is refused, and what parses writes out and parses
// back to the same line counts.
func FuzzTracefile(f *testing.F) {
	f.Add([]byte("TN:t\nSF:/src/a.c\nFN:3,main\nFNDA:1,main\nDA:3,1\nDA:4,0\nDA:5,-\nend_of_record\n"))
	f.Add([]byte("SF:b.c\nFN:1,9,f\nFNDA:2,f\nDA:1,1.2e+20\nLF:1\nend_of_record\nSF:b.c\nDA:1,3\n"))
	f.Add([]byte("DA:1,1\n"))
	f.Add([]byte("SF:x\nDA:a,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := parseTracefile(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := tf.write(&out, "test"); err != nil {
			t.Fatal(err)
		}
		again, err := parseTracefile(out.Bytes())
		if err != nil {
			t.Fatalf("what was written does not parse: %v\n%s", err, out.Bytes())
		}
		l1, _ := tf.totals()
		l2, _ := again.totals()
		if l1 != l2 {
			t.Fatalf("lines %+v, written and read back %+v", l1, l2)
		}
	})
}

// FuzzGoProfile: a Go coverage profile (go tool covdata makes it from
// what a guest's programs wrote) parses or is refused, and its blocks,
// whatever their positions, become coverage of a source file without a
// panic.
func FuzzGoProfile(f *testing.F) {
	src := []byte("package p\n\nfunc F(x int) int {\n\tif x > 0 {\n\t\treturn 1\n\t}\n\treturn 0\n}\n")
	f.Add([]byte("mode: set\np/p.go:3.20,4.11 1 1\np/p.go:4.11,6.3 1 0\np/p.go:7.2,7.10 1 1\n"))
	f.Add([]byte("mode: count\nc:\\p.go:1.1,1.2 1 5\n"))
	f.Add([]byte("p.go:0.0,-1.-1 1 1\n"))
	f.Add([]byte("p.go:100.1,200.5 3 9\n"))
	f.Add([]byte("nocolon\n"))
	f.Fuzz(func(t *testing.T, profile []byte) {
		names, blocks, err := parseGoProfile(profile)
		if err != nil {
			return
		}
		for _, n := range names {
			goFileCov(src, blocks[n])
		}
	})
}
