package node

import (
	"fmt"
	"time"
)

// commandEvery is how often keyframe/set and snapshot/set are carried out at most: a
// keyframe costs a picture's worth of bits on every destination, a snapshot a JPEG encode.
const commandEvery = time.Second

// commandPace holds keyframe/set and snapshot/set to one each per commandEvery. A request
// within commandEvery of the last one carried out is coalesced into it: it changes nothing,
// and the first of a window says so in one command_rejected event, the rest in silence.
type commandPace struct {
	now                func() time.Time // time.Now when nil (tests set it)
	keyframe, snapshot pacer
}

type pacer struct {
	last time.Time // when the last request was carried out
	told bool      // the coalescing of this window is told
}

// admit decides on a request for what (the topic, e.g. "keyframe/set"): nil when it is
// coalesced into the last one (told once per window), else a func to call once it was
// carried out, which starts the window (a request that failed starts none).
func (n *Node) admit(p *pacer, what string) (carried func()) {
	now := time.Now
	if n.paced.now != nil {
		now = n.paced.now
	}
	t := now()
	if p.last.IsZero() || t.Sub(p.last) >= commandEvery || t.Before(p.last) {
		return func() { p.last, p.told = t, false }
	}
	if !p.told {
		p.told = true
		n.event(EventCommandRejected, fmt.Sprintf("%s: at most one per %v; requests until then are coalesced into the last one", what, commandEvery))
	}
	return nil
}
