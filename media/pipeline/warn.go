package pipeline

import (
	"fmt"
	"slices"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// Limits of what the platforms take from a stream camnode passes through unchanged.
const (
	// MaxKeyframeInterval: Twitch and YouTube want a keyframe every 2 s; beyond 4 s
	// players join late and some ingests drop the stream.
	MaxKeyframeInterval = 4 * time.Second
	// rateWindow frames are looked at together to judge whether the frame rate varies.
	rateWindow = 60
)

// passthroughCheck watches a stream camnode does not encode, and says once of each kind
// what platforms or browsers will not take: keyframes too far apart, a profile browsers
// cannot decode, a frame rate that varies wildly.
type passthroughCheck struct {
	lastKey       time.Duration
	seenKey       bool
	seenFrame     bool
	warnedGOP     bool
	warnedProfile bool
	warnedRate    bool
	last          time.Duration
	intervals     []time.Duration
	sorted        []time.Duration
	// bitrate is CAMNODE_BITRATE (bits/s), which camnode cannot apply to a stream it does not
	// encode: a measured rate far above it is said once. Zero: not checked.
	bitrate int
	rate    rateMeter
}

// farAboveBitrate: a passthrough stream measured at more than this many times
// CAMNODE_BITRATE gets a warning (a camera's default, an ffmpeg without -b:v).
const farAboveBitrate = 2

func newPassthroughCheck() *passthroughCheck {
	return &passthroughCheck{intervals: make([]time.Duration, 0, rateWindow), sorted: make([]time.Duration, 0, rateWindow)}
}

// newPassthroughCheckAt is newPassthroughCheck that also measures the stream's rate
// against bitrate (CAMNODE_BITRATE, bits/s).
func newPassthroughCheckAt(bitrate int) *passthroughCheck {
	c := newPassthroughCheck()
	c.bitrate = bitrate
	return c
}

// check returns the warnings au raises; nil nearly always.
func (c *passthroughCheck) check(au *media.AccessUnit) []string {
	var out []string
	if d := au.Time - c.last; c.seenFrame && d > 0 {
		c.intervals = append(c.intervals, d)
	}
	c.last, c.seenFrame = au.Time, true
	if au.Keyframe {
		if c.seenKey && !c.warnedGOP {
			if d := au.Time - c.lastKey; d > MaxKeyframeInterval {
				c.warnedGOP = true
				out = append(out, fmt.Sprintf("keyframes %.1f s apart: platforms want one every 2 s (at most %v); set the source's GOP/keyframe interval", d.Seconds(), MaxKeyframeInterval))
			}
		}
		c.seenKey, c.lastKey = true, au.Time
		if !c.warnedProfile {
			if w := profileWarning(au); w != "" {
				c.warnedProfile = true
				out = append(out, w)
			}
		}
	} else if c.seenKey && !c.warnedGOP && au.Time-c.lastKey > MaxKeyframeInterval {
		c.warnedGOP = true
		out = append(out, fmt.Sprintf("no keyframe for more than %v: platforms want one every 2 s; set the source's GOP/keyframe interval", MaxKeyframeInterval))
	}
	if c.bitrate > 0 {
		if kbps, ok := c.rate.add(au); ok && kbps*1000 > farAboveBitrate*float64(c.bitrate) {
			out = append(out, fmt.Sprintf("the source's H.264 runs at %.0f kbit/s, far above CAMNODE_BITRATE=%dk, and camnode passes it through without re-encoding: set the source's own bitrate (ffmpeg -b:v, rpicam-vid --bitrate, the camera's control) or raise CAMNODE_BITRATE if the uplink takes it",
				kbps, c.bitrate/1000))
		}
	}
	if len(c.intervals) == rateWindow {
		if !c.warnedRate && variesWildly(c.intervals, &c.sorted) {
			c.warnedRate = true
			out = append(out, "the frame rate varies wildly (frame intervals from less than half to more than twice the usual): players may stutter")
		}
		c.intervals = c.intervals[:0]
	}
	return out
}

// variesWildly: more than a quarter of the intervals are under half or over twice the median.
func variesWildly(iv []time.Duration, scratch *[]time.Duration) bool {
	s := append((*scratch)[:0], iv...)
	slices.Sort(s)
	*scratch = s
	med := s[len(s)/2]
	odd := 0
	for _, d := range iv {
		if d < med/2 || d > 2*med {
			odd++
		}
	}
	return odd*4 > len(iv)
}

// profileWarning says why browsers cannot play the stream the SPS of au describes.
func profileWarning(au *media.AccessUnit) string {
	for _, n := range au.NALUs {
		if h264.NALType(n) != h264.TypeSPS {
			continue
		}
		sps, err := h264.ParseSPS(n)
		if err != nil {
			return ""
		}
		switch {
		case sps.ChromaFormatIDC == 3 || sps.ProfileIDC == 244:
			return "H.264 High 4:4:4 stream: browsers and most platforms cannot decode it; encode 4:2:0 8-bit (High, Main or Baseline profile)"
		case sps.ChromaFormatIDC == 2 || sps.ProfileIDC == 122:
			return "H.264 High 4:2:2 stream: browsers and most platforms cannot decode it; encode 4:2:0 8-bit (High, Main or Baseline profile)"
		case sps.BitDepthLuma > 8 || sps.BitDepthChroma > 8 || sps.ProfileIDC == 110:
			return "H.264 High 10 (more than 8 bits) stream: browsers and most platforms cannot decode it; encode 8-bit"
		}
		return ""
	}
	return ""
}
