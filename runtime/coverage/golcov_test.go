package coverage

import (
	"maps"
	"strings"
	"testing"
)

// TestGoFileCov: lines count where a block holds code, not braces; a
// function is covered when any of its blocks ran, function literals
// included.
func TestGoFileCov(t *testing.T) {
	src := `package p

func f(x int) int {
	if x > 1 {
		return 1
	}
	return 0
}

func g() int { return 2 }

func (r *T) h() func() {
	return func() {
		println() // a comment
	}
}
`
	profile := `mode: set
example.com/p/p.go:3.19,4.11 1 1
example.com/p/p.go:4.11,6.3 1 0
example.com/p/p.go:7.2,7.10 1 1
example.com/p/p.go:10.14,10.26 1 0
example.com/p/p.go:12.24,13.16 1 0
example.com/p/p.go:13.16,15.3 1 1
`
	names, blocks, err := parseGoProfile([]byte(profile))
	if err != nil || len(names) != 1 {
		t.Fatalf("%q, %v", names, err)
	}
	fc := goFileCov([]byte(src), blocks[names[0]])
	if want := map[int]int64{4: 1, 5: 0, 7: 1, 10: 0, 13: 0, 14: 1}; !maps.Equal(fc.lines, want) {
		t.Errorf("lines %v, want %v", fc.lines, want)
	}
	got := map[string]funcCov{}
	for n, f := range fc.funcs {
		got[n] = *f
	}
	if want := map[string]funcCov{"f": {3, 1}, "g": {10, 0}, "(*T).h": {12, 1}}; !maps.Equal(got, want) {
		t.Errorf("functions %v, want %v", got, want)
	}
}

// TestTracefileRoundTrip: what write writes, parse reads back, and
// records of the same file add up.
func TestTracefileRoundTrip(t *testing.T) {
	in := `TN:a
SF:/src/x.c
FN:2,f
FN:5,g
FNDA:1,f
FNDA:0,g
DA:2,1
DA:3,0
DA:5,0
end_of_record
TN:b
SF:/src/x.c
FN:2,f
FN:5,g
FNDA:0,f
FNDA:4,g
DA:2,0
DA:3,0
DA:5,4
end_of_record
`
	tf, err := parseTracefile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	lines, funcs := tf.totals()
	if lines != newCounts(2, 3) || funcs != newCounts(2, 2) || lines.Percent != 66.7 {
		t.Errorf("lines %+v, functions %+v", lines, funcs)
	}
	var b strings.Builder
	if err := tf.write(&b, "m"); err != nil {
		t.Fatal(err)
	}
	again, err := parseTracefile([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if l2, f2 := again.totals(); l2 != lines || f2 != funcs {
		t.Errorf("after a round trip: %+v %+v\n%s", l2, f2, b.String())
	}
	if _, err := parseTracefile([]byte("DA:1,1\n")); err == nil {
		t.Error("DA outside a record was accepted")
	}
}
