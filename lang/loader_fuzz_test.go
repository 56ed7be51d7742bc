package lang_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/lang"
)

// FuzzExec: any test file parses and runs under limits, or fails with an
// error whose report names a position in it; explaining syntax errors
// (unclosed brackets, look-alike characters) never panics.
func FuzzExec(f *testing.F) {
	for _, src := range []string{
		"x = foo(1,\ny = 2\n",
		"\ufeffx = 1\n",
		"x = \u201chello\u201d\n",
		"def f():\n    x = [1,\n    return x\n",
		"x = {\n  \"a\": 1,\n  \"b\": [2, 3,\n}\n",
		"x = \"\"\"(\n\"\"\"\nf(x\n",
		"for i in range(3):\n    print(i)\n",
		"import os\n",
		"  x = 1\n",
		"x = list(range(1 << 40))\n",
		"load(\"@stdlib//x.star\", \"y\")\n",
		"x = r'\\'(' + \"\\\"[\"\n(",
	} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		l := lang.New(lang.Config{Limits: lang.Limits{Steps: 100_000, Memory: 256 << 20}, Predeclared: predeclared})
		_, err := l.Exec(context.Background(), "t.star", src)
		if err == nil {
			return
		}
		report := lang.FormatError(err)
		if !strings.HasPrefix(report, "t.star:") && !strings.HasPrefix(report, "cannot load") {
			t.Fatalf("report without a position: %q", report)
		}
	})
}
