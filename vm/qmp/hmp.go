package qmp

import (
	"context"
	"encoding/json"
	"fmt"
)

// HumanMonitorCommand runs one command of QEMU's human monitor (HMP), for
// what QMP has no command of its own (hostfwd_add, hostfwd_remove), and
// returns what it printed. HMP reports most failures only in that text:
// the caller decides what an answer means.
func (c *Client) HumanMonitorCommand(ctx context.Context, line string) (string, error) {
	ret, err := c.Execute(ctx, "human-monitor-command", map[string]string{"command-line": line})
	if err != nil {
		return "", err
	}
	var out string
	if err := json.Unmarshal(ret, &out); err != nil {
		return "", fmt.Errorf("qmp human-monitor-command %q: want a string, got %s", line, ret)
	}
	return out, nil
}
