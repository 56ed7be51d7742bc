package vswitch

import (
	"fmt"
	"maps"
	"math/rand/v2"
)

// policy is the switch's faults between machines, beyond Block: a
// partition and the quality of links. It is immutable: a change makes a
// new policy, which frames in flight pick up at their next step.
type policy struct {
	// group is each named machine's side of the partition; machines not
	// named are together on one more side. nil: no partition.
	group map[string]int
	// links are set with SetLink, by (from, to) machine names, "" meaning
	// any machine.
	links map[pair]Link
}

type pair struct{ from, to string }

// empty reports whether p lets every frame through untouched.
func (p *policy) empty() bool { return p == nil || p.group == nil && len(p.links) == 0 }

func (p *policy) clone() *policy {
	if p == nil {
		return &policy{}
	}
	return &policy{group: maps.Clone(p.group), links: maps.Clone(p.links)}
}

// apart reports whether the partition separates the machines from and to.
func (p *policy) apart(from, to string) bool {
	if p.group == nil {
		return false
	}
	gf, ok := p.group[from]
	if !ok {
		gf = -1
	}
	gt, ok := p.group[to]
	if !ok {
		gt = -1
	}
	return gf != gt
}

// link returns the link from machine from to machine to: the one set for
// exactly this pair if there is one, otherwise from's own link (SetLink
// from, "") followed by to's (SetLink "", to).
func (p *policy) link(from, to string) Link {
	if l, ok := p.links[pair{from, to}]; ok {
		return l
	}
	return p.links[pair{from, ""}].then(p.links[pair{"", to}])
}

// updatePolicy applies change to a copy of the policy and installs it.
func (s *Switch) updatePolicy(change func(p *policy)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.policy.Load().clone()
	change(p)
	if p.empty() {
		p = nil
	}
	s.policy.Store(p)
}

// Partition splits the network: frames pass only between machines of the
// same group. Each group lists machine names; the machines no group names
// (and the VDE uplinks of AttachVDE) form one more group. It replaces any
// partition before it; Heal ends it. A name in two groups is an error.
// Machines need not be attached yet.
func (s *Switch) Partition(groups [][]string) error {
	g := map[string]int{}
	for i, names := range groups {
		for _, n := range names {
			if j, dup := g[n]; dup {
				if j == i {
					return fmt.Errorf("%s is listed twice in group %d", n, i+1)
				}
				return fmt.Errorf("%s is in group %d and in group %d", n, j+1, i+1)
			}
			g[n] = i
		}
	}
	s.updatePolicy(func(p *policy) { p.group = g })
	return nil
}

// Heal ends the partition; every machine reaches every other again
// (unless blocked). Links keep their quality.
func (s *Switch) Heal() {
	s.updatePolicy(func(p *policy) { p.group = nil })
}

// SetLink sets the quality of the link from machine from to machine to,
// in that direction; the zero Link makes it perfect again. from == ""
// sets every link to to (to's incoming cable), to == "" every link from
// from (its outgoing cable); a frame from a to b then goes through a's
// outgoing cable and b's incoming one, unless the pair (a, b) has a link
// of its own, which is the whole path. Both empty is an error.
func (s *Switch) SetLink(from, to string, l Link) error {
	if from == "" && to == "" {
		return fmt.Errorf("a link needs at least one machine")
	}
	if err := l.Check(); err != nil {
		return err
	}
	s.updatePolicy(func(p *policy) {
		if l.IsZero() {
			delete(p.links, pair{from, to})
			return
		}
		if p.links == nil {
			p.links = map[pair]Link{}
		}
		p.links[pair{from, to}] = l
	})
	return nil
}

// lost reports whether a frame on link l is lost.
func lost(l *Link) bool {
	return l.Loss > 0 && (l.Loss >= 1 || rand.Float64() < l.Loss)
}
