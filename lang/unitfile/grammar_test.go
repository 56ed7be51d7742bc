package unitfile

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	src := "# a comment\n; another\n\n[Unit]\nDescription=The  test   service \n After = network.target\n\n[Service]\nExecStart=/bin/echo a \\\n  b \\\n c\nEnvironment=\"A=1\" B=2\nEmpty=\nPath=C:\\dir\n[Install]\nWantedBy=multi-user.target"
	got, err := parse(t.Context(), "t.service", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Section{
		{"Unit", []Assignment{{"Description", "The  test   service", "t.service", 5}, {"After", "network.target", "t.service", 6}}},
		{"Service", []Assignment{
			{"ExecStart", "/bin/echo a    b   c", "t.service", 9},
			{"Environment", `"A=1" B=2`, "t.service", 12},
			{"Empty", "", "t.service", 13},
			{"Path", `C:\dir`, "t.service", 14},
		}},
		{"Install", []Assignment{{"WantedBy", "multi-user.target", "t.service", 16}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"[Unit]\nDescription=x\nthis is not right\n": `t.service:3: "this is not right" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"Description=x\n":                            "t.service:1: Description= is outside of any [Section]",
		"[Unit\nA=b\n":                               `t.service:1: "[Unit" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\n= value\n":                          `t.service:2: "= value" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\nExec Start=/bin/true\n":             `t.service:2: "Exec Start=/bin/true" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\nDescription\n":                      `t.service:2: "Description" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\nA\x00B=c\n":                         `t.service:2: "A\x00B=c" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\n\tA=b ]\n[x":                        `t.service:3: "[x" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"\n\n[Unit]\nA=b\n!\n":                       `t.service:5: "!" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"[Unit]\n" + strings.Repeat("A", 300) + "\n": `t.service:2: "` + strings.Repeat("A", 200) + `"... (100 more bytes) is neither a [Section] header, a Key=Value assignment nor a comment`,
		strings.Repeat("K", 300) + "=v\n":            "t.service:1: " + strings.Repeat("K", 200) + "... (101 more bytes) is outside of any [Section]",
	} {
		if _, err := parse(t.Context(), "t.service", []byte(src)); err == nil || err.Error() != want {
			t.Errorf("%.40q:\ngot  %v\nwant %s", src, err, want)
		}
	}
}

// A long line of any shape is rejected in time linear in its length
// (a line of "[" was quadratic: 60 KB took a minute), and the error
// quotes only its start. The deadline only guards against a hang.
func TestParseLongLines(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const n = 1 << 20
	for _, line := range []string{
		strings.Repeat("[", n),
		strings.Repeat("[a", n/2),
		strings.Repeat("a [", n/3),
		strings.Repeat("!", n),
		strings.Repeat("é", n/2),
	} {
		_, err := parse(ctx, "t.service", []byte("[Unit]\n"+line+"\nA=b\n"))
		if ctx.Err() != nil {
			t.Fatalf("%.10q...: not rejected in 30s", line)
		}
		want := fmt.Sprintf(`t.service:2: %s... (%d more bytes) is neither`, strconv.Quote(line[:200]), len(line)-200)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%.10q...: got %.300v, want %.300s", line, err, want)
		}
	}
}

func TestParseCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := parse(ctx, "t.service", []byte("[Unit]\n"+strings.Repeat("A=b\n", 10000)))
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "t.service: ") {
		t.Errorf("got %v, want t.service: context canceled", err)
	}
}

func TestQuoteLine(t *testing.T) {
	for s, want := range map[string]string{
		"short":                        `"short"`,
		strings.Repeat("x", 200):       strconv.Quote(strings.Repeat("x", 200)),
		strings.Repeat("x", 201):       strconv.Quote(strings.Repeat("x", 200)) + "... (1 more byte)",
		"x" + strings.Repeat("é", 150): strconv.Quote("x"+strings.Repeat("é", 99)) + "... (102 more bytes)",
	} {
		if got := QuoteLine(s); got != want {
			t.Errorf("QuoteLine(%.20q...) = %s, want %s", s, got, want)
		}
	}
}

// TestQuoteLineEscapes: the quoted text is what is bounded, so a line of
// control characters quotes fewer of them.
func TestQuoteLineEscapes(t *testing.T) {
	got := QuoteLine(strings.Repeat("\x06", 300))
	want := strconv.Quote(strings.Repeat("\x06", 50)) + "... (250 more bytes)"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
