// Package media holds the types every video stage shares: the access unit a source yields
// and the small interface every source implements.
package media

import (
	"context"
	"time"
)

// AccessUnit is one coded picture: the NAL units of one frame, without start codes, in
// decoding order, with the capture time of the frame.
//
// An AccessUnit and the bytes it points into belong to the source and are valid only for
// the duration of the deliver call; a consumer that keeps them copies them.
type AccessUnit struct {
	NALUs [][]byte
	// Time is the capture (decode) time on the source's monotonic clock, counted from the
	// start of the source. It never goes backwards.
	Time time.Duration
	// CompositionOffset is PTS-DTS; zero for streams without B-frames.
	CompositionOffset time.Duration
	// Keyframe is true when the unit holds an IDR slice.
	Keyframe bool
}

// Source yields access units until its context ends or it fails.
type Source interface {
	// Run calls deliver for every access unit, in order, from a single goroutine. It
	// returns nil when ctx ends, or the error that stopped the source; an error from
	// deliver stops the source and is returned.
	Run(ctx context.Context, deliver func(*AccessUnit) error) error
}

// KeyframeRequester is implemented by sources that can produce an IDR frame on demand.
type KeyframeRequester interface {
	RequestKeyframe() error
}

// PixelFormat is the memory layout of a raw Frame.
type PixelFormat uint8

const (
	// PixelI420 (YU12): the Y plane, then U and V planes of (Width/2)x(Height/2).
	PixelI420 PixelFormat = iota + 1
	// PixelNV12: the Y plane, then one plane of interleaved U,V pairs, Width x (Height/2).
	PixelNV12
)

// Frame is one raw picture, for sources that do not deliver H.264 (raw V4L2 formats, the
// live test pattern) and for drawing danmaku into the picture before encoding.
//
// Plane i holds rows of Strides[i] bytes; unused planes are nil. Like an AccessUnit, a
// Frame and its planes belong to the source and are valid only during the deliver call.
type Frame struct {
	Format        PixelFormat
	Width, Height int
	Planes        [3][]byte
	Strides       [3]int
	// Time follows the rules of AccessUnit.Time.
	Time time.Duration
}

// FrameSource yields raw pictures until its context ends or it fails; an encoder turns
// them into access units.
type FrameSource interface {
	RunFrames(ctx context.Context, deliver func(*Frame) error) error
}

// AudioConfig describes an AAC track: what its FLV sequence header (the
// AudioSpecificConfig of ISO/IEC 14496-3) says.
type AudioConfig struct {
	SampleRate int    // Hz, e.g. 48000 or 44100
	Channels   int    // 1 or 2
	ASC        []byte // AudioSpecificConfig, 2 bytes for AAC-LC
}

// AudioFrame is one raw AAC access unit (no ADTS header) of 1024 samples per channel.
// Like an AccessUnit, the frame and its bytes belong to the source and are valid only
// during the deliver call.
type AudioFrame struct {
	Data []byte
	// Time is the frame's presentation time on the same clock as the video's
	// AccessUnit.Time (counted from the start of the pipeline).
	Time   time.Duration
	Config *AudioConfig
}

// AudioSource yields AAC frames until its context ends or it fails.
type AudioSource interface {
	RunAudio(ctx context.Context, deliver func(*AudioFrame) error) error
}
