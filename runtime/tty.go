package runtime

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TTYText returns the text of the machine's virtual terminal ttyN (N from
// 1), as the NixOS driver's get_tty_text reads it: its rows, each padded
// with spaces to the terminal's width, joined by newlines. It reads
// /dev/vcsaN in the guest, opening /dev/ttyN first if the terminal was
// never used (which makes the kernel allocate it). It boots the machine
// if need be.
func (m *Machine) TTYText(ctx context.Context, n int) (string, error) {
	c := Command{Shell: fmt.Sprintf("test -e /dev/vcsa%[1]d || : < /dev/tty%[1]d; cat /dev/vcsa%[1]d", n)}
	out, err := m.execute(ctx, c, false)
	if err != nil {
		return "", err
	}
	if out.Exit != 0 {
		return "", m.errorf(nil, "reading tty%d: %s", n, strings.TrimSpace(out.Stderr))
	}
	text, err := vcsaText([]byte(out.Stdout))
	if err != nil {
		return "", m.errorf(err, "reading tty%d: %v", n, err)
	}
	return text, nil
}

// vcsaText decodes the contents of /dev/vcsaN: a header of rows, columns
// and the cursor's position (a byte each), then each cell as a character
// and an attribute byte. Characters outside printable ASCII (the console
// font's own code page) become "?", control characters spaces.
func vcsaText(b []byte) (string, error) {
	if len(b) < 4 {
		return "", fmt.Errorf("/dev/vcsa gave %d bytes, want a header of 4", len(b))
	}
	rows, cols := int(b[0]), int(b[1])
	cells := b[4:]
	if len(cells) < 2*rows*cols {
		return "", fmt.Errorf("/dev/vcsa gave %d bytes for %d×%d cells", len(cells), rows, cols)
	}
	var t strings.Builder
	for r := range rows {
		if r > 0 {
			t.WriteByte('\n')
		}
		for c := range cols {
			ch := cells[2*(r*cols+c)]
			switch {
			case ch < 0x20 || ch == 0x7f:
				ch = ' '
			case ch > 0x7f:
				ch = '?'
			}
			t.WriteByte(ch)
		}
	}
	return t.String(), nil
}

// WaitUntilTTYMatches reads ttyN about once a second until its text
// matches re, and returns that text.
func (m *Machine) WaitUntilTTYMatches(ctx context.Context, n int, re *regexp.Regexp, timeout time.Duration) (string, error) {
	m.net.log.Machinef(m.Name(), "waiting for tty%d to match /%s/", n, re)
	waitCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		text, err := m.TTYText(waitCtx, n)
		if err == nil && re.MatchString(text) {
			return text, nil
		}
		if err == nil {
			last = text
		}
		if err := Pause(waitCtx, time.Second); err != nil {
			if ctx.Err() != nil {
				return "", m.callFailed(ctx, err, fmt.Sprintf("waiting for tty%d to match /%s/", n, re), timeout)
			}
			e := m.errorf(nil, "tty%d did not match /%s/ within %s; it shows:\n%s", n, re, timeout, TrimRows(last))
			e.TimedOut = true
			return "", e
		}
	}
}

// TrimRows drops the spaces that pad each row of a terminal's text, and
// the blank rows at its end, for a report.
func TrimRows(text string) string {
	rows := strings.Split(text, "\n")
	for i, r := range rows {
		rows[i] = strings.TrimRight(r, " ")
	}
	return strings.TrimRight(strings.Join(rows, "\n"), "\n")
}
