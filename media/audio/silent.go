package audio

import (
	"context"
	"time"

	"github.com/camnode/camnode/media"
)

// Raw AAC-LC frames of digital silence: one individual channel stream (mono) or a channel
// pair (stereo) with max_sfb 0, so no scale factors and no spectral data, then END. They
// are the frames ffmpeg's AAC encoder writes for anullsrc, and they decode to zero samples
// at every sampling rate (the band tables are never consulted).
var (
	silentMono   = []byte{0x01, 0x18, 0x20, 0x07}
	silentStereo = []byte{0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c}
)

// silentFrame is the silent raw frame for the channel count (1 or 2).
func silentFrame(channels int) []byte {
	if channels == 2 {
		return silentStereo
	}
	return silentMono
}

// frameTime is the start of frame n of a stream at rate Hz, from the sample count: exact to
// the nanosecond however long the stream runs, so that audio never drifts from the clock.
func frameTime(n int64, rate int) time.Duration {
	samples := n * SamplesPerFrame
	r := int64(rate)
	return time.Duration(samples/r)*time.Second + time.Duration(samples%r*int64(time.Second)/r)
}

// SilentSource is a media.AudioSource of AAC-LC silence: one constant raw frame of 1024
// samples per frame time, so it costs next to nothing. Frame n is stamped anchor +
// n*1024/rate, where anchor is the Clock's time when RunAudio starts. Frames are delivered
// a few at a time, up to Lead ahead of the Clock: waking for each 21 ms frame costs more
// CPU than the rest of the track, and audio that arrives ahead waits in the publisher's
// queue for the video it goes with, while audio that arrives late would hold the video.
// The pipeline does not run it at all: it takes VideoTrack, which the pictures drive on
// their own goroutine; RunAudio serves whoever has no pictures to drive it.
type SilentSource struct {
	// Clock is the video's clock; nil means the wall clock from the start of RunAudio.
	Clock Clock
	// Lead is how far ahead of the Clock frames may be delivered; 0 means DefaultLead,
	// negative means none (each frame when the Clock reaches it).
	Lead   time.Duration
	header ADTSHeader
	err    error
}

// DefaultLead is SilentSource's default Lead: about 5 frames at 48 kHz per wake-up.
const DefaultLead = 100 * time.Millisecond

var _ media.AudioSource = (*SilentSource)(nil)

// Silent returns a source of AAC-LC silence at sampleRate Hz (48000 or 44100 are the usual
// ones) with 1 or 2 channels. A rate or channel count AAC cannot carry makes Config and
// RunAudio fail.
func Silent(sampleRate, channels int) *SilentSource {
	h, err := LC(sampleRate, channels)
	return &SilentSource{header: h, err: err}
}

// Config is the track's configuration, known before the first frame (for the publisher's
// metadata).
func (s *SilentSource) Config() (*media.AudioConfig, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.header.Config(), nil
}

// RunAudio delivers silent frames until ctx ends (then it returns nil) or deliver fails.
func (s *SilentSource) RunAudio(ctx context.Context, deliver func(*media.AudioFrame) error) error {
	cfg, err := s.Config()
	if err != nil {
		return err
	}
	clock := s.Clock
	if clock == nil {
		clock = WallClock(time.Now())
	}
	lead := s.Lead
	if lead == 0 {
		lead = DefaultLead
	}
	lead = max(lead, 0)
	frame := media.AudioFrame{Data: silentFrame(cfg.Channels), Config: cfg}
	anchor := clock.Now()
	for n := int64(0); ; {
		if clock.Wait(ctx, anchor+frameTime(n, cfg.SampleRate)-lead) != nil {
			return nil
		}
		// Everything due up to Lead from now, then sleep until the next frame is within
		// Lead: with the default, one wake-up per ~100 ms instead of per 21 ms frame.
		for until := clock.Now() + lead; ; n++ {
			frame.Time = anchor + frameTime(n, cfg.SampleRate)
			if frame.Time > until {
				break
			}
			if err := deliver(&frame); err != nil {
				return err
			}
		}
	}
}

// VideoTrack returns the silence as a track that the video drives: the video's producer
// calls Advance with each picture's time, on its own goroutine, and the frames due are
// delivered there. The track has no goroutine and no timer of its own: waking a goroutine
// for the silence ten times a second cost the push more CPU than everything else it does
// (bench/push: the wake-ups, not the frames). It follows the video whatever its pace: a
// camera in real time, a file played as fast as the ingest takes it, a source that stalls
// and is reopened with its time continued. Each call makes a new track, starting at the
// first Advance.
func (s *SilentSource) VideoTrack() (*VideoTrack, error) {
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	return &VideoTrack{frame: media.AudioFrame{Data: silentFrame(cfg.Channels), Config: cfg}}, nil
}

// VideoTrack is AAC silence made as the video advances (SilentSource.VideoTrack). Frame n
// is stamped anchor + n*1024/rate, where anchor is the time of the first Advance: exact
// from the sample count however long it runs, like SilentSource's frames.
type VideoTrack struct {
	frame   media.AudioFrame
	anchor  time.Duration
	next    int64 // the frame to deliver next
	started bool
}

// Advance delivers the frames due by video time t: each one that starts at or before t,
// and the one after it, so that the last frame delivered reaches t: the publisher then
// interleaves the picture at t at once instead of waiting for the next picture's audio.
// The audio is thus at most one frame (21 ms at 48 kHz) ahead of the video. The first
// call anchors frame 0 at t. It returns deliver's first error.
func (v *VideoTrack) Advance(t time.Duration, deliver func(*media.AudioFrame) error) error {
	if !v.started {
		v.started, v.anchor = true, t
	}
	rate := v.frame.Config.SampleRate
	for v.next == 0 || v.anchor+frameTime(v.next-1, rate) < t {
		v.frame.Time = v.anchor + frameTime(v.next, rate)
		v.next++
		if err := deliver(&v.frame); err != nil {
			return err
		}
	}
	return nil
}
