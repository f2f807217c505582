package pipeline

import (
	"math"
	"time"

	"github.com/camnode/camnode/media"
)

// rateSpan is how much of a passthrough stream rateMeter measures: from a keyframe to the
// first keyframe at least this far after it (whole GOPs, so that the large keyframes count
// as often as they come), or rateSpanMax of a stream whose keyframes are further apart.
const (
	rateSpan    = 5 * time.Second
	rateSpanMax = 20 * time.Second
)

// rateMeter measures the video data rate of a stream camnode passes through, for
// onMetaData's videodatarate: CAMNODE_BITRATE is the target of camnode's own encoder and
// says nothing about a camera's or a file's stream (a 124 kb/s file was announced as 2500).
type rateMeter struct {
	from          time.Duration
	bytes         int
	started, done bool
}

// add counts an access unit; it returns the rate in kbit/s, once, when the span is measured.
func (m *rateMeter) add(au *media.AccessUnit) (kbps float64, measured bool) {
	if m.done {
		return 0, false
	}
	if !m.started {
		if !au.Keyframe {
			return 0, false
		}
		m.started, m.from = true, au.Time
	}
	if span := au.Time - m.from; span >= rateSpanMax || au.Keyframe && span >= rateSpan {
		m.done = true
		return math.Round(float64(m.bytes)*8/1000/span.Seconds()*10) / 10, true
	}
	for _, n := range au.NALUs {
		m.bytes += len(n)
	}
	return 0, false
}
