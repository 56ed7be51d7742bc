package coverage

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// fileCov is the coverage of one source file: hits per line and per
// function. Records of the same file (several test names in one
// tracefile) add up.
type fileCov struct {
	lines map[int]int64 // line -> hits
	funcs map[string]*funcCov
}

type funcCov struct {
	line int
	hits int64
}

func newFileCov() *fileCov {
	return &fileCov{lines: map[int]int64{}, funcs: map[string]*funcCov{}}
}

// tracefile is the parsed contents of an lcov tracefile, by source path.
type tracefile map[string]*fileCov

// readTracefile parses the lcov tracefile at path.
func readTracefile(path string) (tracefile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := parseTracefile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// parseTracefile parses lcov's tracefile format: SF starts a file's
// record, DA:line,hits a line, FN:line,name (or lcov 2's
// FN:line,end,name) and FNDA:hits,name a function, end_of_record ends
// it. Other lines (TN, branches, summaries) are ignored: the counts are
// recomputed from DA and FN.
func parseTracefile(data []byte) (tracefile, error) {
	t := tracefile{}
	var cur *fileCov
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		bad := func() (tracefile, error) { return nil, fmt.Errorf("line %d: malformed %s record %q", n, key, val) }
		switch key {
		case "SF":
			if cur = t[val]; cur == nil {
				cur = newFileCov()
				t[val] = cur
			}
		case "end_of_record":
			cur = nil
		case "DA", "FN", "FNDA":
			if cur == nil {
				return nil, fmt.Errorf("line %d: %s outside a file's record", n, key)
			}
			f := strings.Split(val, ",")
			if len(f) < 2 {
				return bad()
			}
			num, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return bad()
			}
			switch key {
			case "DA":
				cur.lines[int(num)] += max(num2(f[1]), 0)
			case "FN":
				name := strings.Join(f[1:], ",")
				if _, err := strconv.Atoi(f[1]); err == nil && len(f) > 2 {
					name = strings.Join(f[2:], ",") // lcov 2: FN:start,end,name
				}
				if fc := cur.funcs[name]; fc == nil {
					cur.funcs[name] = &funcCov{line: int(num)}
				} else {
					fc.line = int(num)
				}
			case "FNDA":
				name := strings.Join(f[1:], ",")
				if fc := cur.funcs[name]; fc == nil {
					cur.funcs[name] = &funcCov{hits: num}
				} else {
					fc.hits += num
				}
			}
		}
	}
	return t, sc.Err()
}

// num2 parses a hit count; lcov writes very large ones in exponent
// notation and "-" for lines it could not count.
func num2(s string) int64 {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f)
	}
	return 0
}

// Counts is how many of some items (lines, functions) were covered.
type Counts struct {
	Covered int     `json:"covered"`
	Total   int     `json:"total"`
	Percent float64 `json:"percent"` // 0 when Total is 0
}

func newCounts(covered, total int) Counts {
	c := Counts{Covered: covered, Total: total}
	if total > 0 {
		// Rounded to a tenth, as printed, so the JSON and the terminal agree.
		c.Percent = float64(int(float64(covered)*1000/float64(total)+0.5)) / 10
	}
	return c
}

// totals returns the line and function counts of t.
func (t tracefile) totals() (lines, funcs Counts) {
	var lc, lt, fc, ft int
	for _, f := range t {
		for _, hits := range f.lines {
			lt++
			if hits > 0 {
				lc++
			}
		}
		for _, fn := range f.funcs {
			ft++
			if fn.hits > 0 {
				fc++
			}
		}
	}
	return newCounts(lc, lt), newCounts(fc, ft)
}

// files returns the source paths of t, sorted.
func (t tracefile) files() []string {
	var names []string
	for n := range t {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// write writes t as an lcov tracefile under the test name test.
func (t tracefile) write(w io.Writer, test string) error {
	bw := bufio.NewWriter(w)
	for _, name := range t.files() {
		f := t[name]
		fmt.Fprintf(bw, "TN:%s\nSF:%s\n", test, name)
		fnames := make([]string, 0, len(f.funcs))
		for n := range f.funcs {
			fnames = append(fnames, n)
		}
		slices.SortFunc(fnames, func(a, b string) int {
			if d := f.funcs[a].line - f.funcs[b].line; d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		hit := 0
		for _, n := range fnames {
			fmt.Fprintf(bw, "FN:%d,%s\n", f.funcs[n].line, n)
		}
		for _, n := range fnames {
			fmt.Fprintf(bw, "FNDA:%d,%s\n", f.funcs[n].hits, n)
			if f.funcs[n].hits > 0 {
				hit++
			}
		}
		fmt.Fprintf(bw, "FNF:%d\nFNH:%d\n", len(fnames), hit)
		lines := make([]int, 0, len(f.lines))
		for l := range f.lines {
			lines = append(lines, l)
		}
		slices.Sort(lines)
		hit = 0
		for _, l := range lines {
			fmt.Fprintf(bw, "DA:%d,%d\n", l, f.lines[l])
			if f.lines[l] > 0 {
				hit++
			}
		}
		fmt.Fprintf(bw, "LF:%d\nLH:%d\nend_of_record\n", len(lines), hit)
	}
	return bw.Flush()
}
