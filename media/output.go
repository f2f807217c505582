package media

import (
	"context"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media/h264"
)

// Output is one place the live stream goes: an RTMP destination, the HTTP-FLV player, the
// RTSP server. The pipeline hands every output the same protocol-neutral stream; each
// output turns it into its protocol with its own bounded queue, so that one that cannot
// keep up drops (and counts it) and never holds back the others.
//
// WriteVideo, WriteChat and Flush are called from the source's goroutine, WriteAudio from
// the audio track's (or the source's, for silence); the pipeline never calls one method
// from two goroutines at once. What they are given belongs to the caller and is valid only
// during the call: an output copies what it keeps.
type Output interface {
	// Run runs from the stream's first keyframe until ctx ends (the stream stops), and
	// returns only when every goroutine it started has ended. An output that serves
	// clients for the node's whole life ends this stream for them when ctx ends.
	Run(ctx context.Context) error
	// WriteVideo takes one access unit with the parameter sets it is decoded with: the
	// stream's current set, tracked once by the pipeline (a new pointer is a new set; it
	// is never nil). The SPS and PPS stay in the unit where the source put them.
	WriteVideo(ctx context.Context, au *AccessUnit, ps *h264.ParameterSets) error
	// WriteAudio takes one AAC frame.
	WriteAudio(ctx context.Context, f *AudioFrame) error
	// WriteChat takes a chat message shown with the picture at time at, for outputs that
	// carry chat beside the picture (FLV's onTextData); chat inside the picture (SEI) is
	// already in the access unit.
	WriteChat(ctx context.Context, at time.Duration, m *chat.Message)
	// Flush sends now what an output keeps to go with the next picture's write (RTSP's
	// waiting audio): none comes soon, or this one carries chat, whose latency is what a
	// viewer sees of it.
	Flush()
	// Stats returns the output's counters; safe from any goroutine.
	Stats() OutputStats
}

// OutputStats are an output's counters since it was made.
type OutputStats struct {
	FramesIn      uint64 // access units given to WriteVideo
	FramesSent    uint64
	FramesDropped uint64 // dropped for a slow network or reader, or while waiting for a keyframe
	GOPsDropped   uint64
	Keyframes     uint64 // keyframes sent
	BytesSent     uint64 // bytes written, all connections
	Reconnects    uint64 // connections after the first
	Queued        int
	QueuedBytes   int
	Live          bool
	LiveSince     time.Time // zero when not live
	// Refused is true from a refusal by the ingest until the next connection it accepts.
	Refused bool
	// Audio frames given to WriteAudio, sent, and dropped: with the video of a dropped
	// GOP, before the first video, or too late to go out in timestamp order.
	AudioFramesIn      uint64
	AudioFramesSent    uint64
	AudioFramesDropped uint64
	// Readers is the number of viewers served now by an output that serves several (the
	// player's browsers, RTSP clients); Joined counts them since it started, Cut those
	// dropped for falling behind.
	Readers     int
	Joined, Cut uint64
}

// Add sums the counters of s and o; Live is either's, LiveSince the earlier live one's.
func (s OutputStats) Add(o OutputStats) OutputStats {
	s.FramesIn += o.FramesIn
	s.FramesSent += o.FramesSent
	s.FramesDropped += o.FramesDropped
	s.GOPsDropped += o.GOPsDropped
	s.Keyframes += o.Keyframes
	s.BytesSent += o.BytesSent
	s.Reconnects += o.Reconnects
	s.Queued += o.Queued
	s.QueuedBytes += o.QueuedBytes
	s.AudioFramesIn += o.AudioFramesIn
	s.AudioFramesSent += o.AudioFramesSent
	s.AudioFramesDropped += o.AudioFramesDropped
	s.Readers += o.Readers
	s.Joined += o.Joined
	s.Cut += o.Cut
	if o.Live && (!s.Live || o.LiveSince.Before(s.LiveSince)) {
		s.LiveSince = o.LiveSince
	}
	s.Live = s.Live || o.Live
	s.Refused = s.Refused || o.Refused
	return s
}

// ParameterSetTracker follows the parameter sets of one stream: the one place a stream's
// SPS and PPS are tracked (the pipeline's, and a test's or tool's that feeds outputs
// itself). The zero value is ready.
type ParameterSetTracker struct{ cur *h264.ParameterSets }

// Next returns the parameter sets au is decoded with: the current set, or a new one when
// au brings another SPS or PPS; nil until a unit has brought both. An SPS that does not
// parse is an error, and the current set stays in force.
func (t *ParameterSetTracker) Next(au *AccessUnit) (*h264.ParameterSets, error) {
	ps, err := h264.NextParameterSets(t.cur, au.NALUs)
	t.cur = ps
	return ps, err
}

// Feed returns a deliver function for Source.Run that gives every access unit to each of
// outs with its parameter sets (units before the first SPS and PPS go nowhere: nothing
// could decode them). It does not flush: what an output keeps goes with the next picture.
func Feed(ctx context.Context, outs ...Output) func(*AccessUnit) error {
	var params ParameterSetTracker
	return func(au *AccessUnit) error {
		ps, err := params.Next(au)
		if err != nil || ps == nil {
			return err
		}
		for _, o := range outs {
			if err := o.WriteVideo(ctx, au, ps); err != nil {
				return err
			}
		}
		return nil
	}
}

// NopOutput takes the stream and sends it nowhere. Embedded, it gives an output (a
// counter, a test's probe) the methods it has no use for.
type NopOutput struct{}

func (NopOutput) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (NopOutput) WriteVideo(context.Context, *AccessUnit, *h264.ParameterSets) error {
	return nil
}
func (NopOutput) WriteAudio(context.Context, *AudioFrame) error           { return nil }
func (NopOutput) WriteChat(context.Context, time.Duration, *chat.Message) {}
func (NopOutput) Flush()                                                  {}
func (NopOutput) Stats() OutputStats                                      { return OutputStats{} }
