package runtime

import (
	"encoding/xml"
	"fmt"
	"os"
	"time"
)

// JUnit XML, the subset CI systems read.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class   string        `xml:"classname,attr"`
	Name    string        `xml:"name,attr"`
	Time    string        `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the JUnit XML report of one test file to path: a
// suite named test holding a testcase for the whole file (named test, its
// failure the run's report) and one per subtest (named by its path,
// "outer/inner"). report renders an error for the failure text.
func WriteJUnit(path, test string, whole Result, subtests []Result, report func(error) string) error {
	secs := func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
	s := junitSuite{Name: test, Time: secs(whole.Duration)}
	add := func(r Result) {
		c := junitCase{Class: test, Name: r.Name, Time: secs(r.Duration)}
		if r.Err != nil {
			c.Failure = &junitFailure{Message: firstLine(report(r.Err)), Text: report(r.Err)}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	whole.Name = test
	add(whole)
	for _, r := range subtests {
		add(r)
	}
	data, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{s}}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(data, '\n')...), 0o644)
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
