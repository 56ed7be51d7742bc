package vswitch

import (
	"fmt"
	"strings"
	"time"
)

// Link is the quality of the path between two machines in one direction:
// what the switch does to every frame that travels it. The zero Link is a
// perfect link.
type Link struct {
	// Latency is added to every frame.
	Latency time.Duration
	// Jitter varies each frame's latency uniformly within ±Jitter (never
	// below zero). Frames of one link keep their order: a frame is never
	// delivered before the one sent ahead of it.
	Jitter time.Duration
	// Loss is the probability, 0 to 1, that a frame is dropped.
	Loss float64
	// Rate is the link's bandwidth in bits per second (0: unlimited). A
	// frame leaves once the frames ahead of it have been sent at this rate;
	// when more than RateBacklog of them wait, new frames are dropped, as
	// a router's queue does.
	Rate uint64
}

// RateBacklog bounds how long the frames waiting for a rate-limited link
// may take to send; beyond it the link drops (tail drop).
const RateBacklog = 200 * time.Millisecond

// IsZero reports whether l changes nothing.
func (l Link) IsZero() bool { return l == Link{} }

// Check reports a Link whose fields are out of range.
func (l Link) Check() error {
	switch {
	case l.Latency < 0:
		return fmt.Errorf("latency %s is negative", l.Latency)
	case l.Jitter < 0:
		return fmt.Errorf("jitter %s is negative", l.Jitter)
	case !(l.Loss >= 0 && l.Loss <= 1):
		return fmt.Errorf("loss %v is not a probability between 0 and 1", l.Loss)
	}
	return nil
}

func (l Link) String() string {
	if l.IsZero() {
		return "perfect"
	}
	var parts []string
	if l.Latency > 0 {
		parts = append(parts, "latency "+l.Latency.String())
	}
	if l.Jitter > 0 {
		parts = append(parts, "jitter "+l.Jitter.String())
	}
	if l.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", l.Loss*100))
	}
	if l.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(l.Rate))
	}
	return strings.Join(parts, ", ")
}

// then is the link made of l followed by m: latencies and jitters add
// up, a frame survives only if it survives both, and the slower rate
// wins.
func (l Link) then(m Link) Link {
	r := Link{
		Latency: l.Latency + m.Latency,
		Jitter:  l.Jitter + m.Jitter,
		Loss:    1 - (1-l.Loss)*(1-m.Loss),
		Rate:    l.Rate,
	}
	if r.Rate == 0 || m.Rate != 0 && m.Rate < r.Rate {
		r.Rate = m.Rate
	}
	return r
}

// FormatRate writes bits per second the way tc(8) does: "10mbit".
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		name string
		mult uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps >= u.mult && bps%u.mult == 0 {
			return fmt.Sprintf("%d%s", bps/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%dbit", bps)
}
